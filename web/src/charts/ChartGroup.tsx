import { createEffect, createMemo, createSignal, on, onCleanup } from "solid-js";
import { MAX_LIVE_CHARTS } from "@probepilot/shared";
import { resolveRange, stepFor, type TimeRange } from "../lib/time-range.ts";
import { ChartGroupContext, type ChartEntry, type ChartGroupApi } from "./chart-context.ts";
import type { Annotation, ChartEvent, ChartGroupProps, ChartSource, LiveChartSpec } from "./chart-types.ts";
import { trpcSource } from "./trpc-source.ts";
import "./charts.css";

/** How often a live group refreshes its rollout annotations. */
export const ANNOTATIONS_REFRESH_MS = 10_000;
/**
 * What one slice of drawing may cost, the canvas flush that follows it
 * included: a page of dozens of charts updated at once is drawn over a few
 * frames instead of blocking one, and 10 ms leaves the browser room for the
 * frame itself (measured in web/bench: 12 ms put the longest stretch of main-
 * thread work at 17 ms p95, 10 ms at 15 ms, for the same total work). A chart
 * is never cut in half: one slow chart can overrun it.
 */
export const SLICE_TARGET_MS = 10;
/** A live chart that got no data for this long is still re-rendered, so that its window moves on and the gap shows. */
const STALE_RENDER_MS = 1500;

/** The step of a live window: per second up to 1 h, then what the rollup tiers serve (as for fixed ranges). */
export function liveStepFor(windowMs: number): number {
  return windowMs <= 3_600_000 ? 1000 : stepFor(windowMs);
}

function sameRange(a: TimeRange, b: TimeRange): boolean {
  return a.kind === "live" ? b.kind === "live" && a.windowMs === b.windowMs : b.kind === "fixed" && a.from === b.from && a.to === b.to;
}

function sameAnnotations(a: readonly Annotation[], b: readonly Annotation[]): boolean {
  return a.length === b.length && a.every((x, i) => x.ts === b[i]!.ts && x.rolloutId === b[i]!.rolloutId && x.kind === b[i]!.kind && x.text === b[i]!.text);
}

let groupCount = 0;

/**
 * A set of time charts that share one live stream (or one batch of range
 * queries), one synchronized cursor and the rollout annotations of the agents
 * they chart. Events are merged into the charts' data as they arrive; drawing
 * is coalesced per animation frame for the whole group (a chart with ten events
 * since the last frame is drawn once), spread over a few frames when there is
 * more than a frame's worth, and paused while the tab is hidden (the data is
 * still merged, so the charts are current when it shows again).
 */
export function ChartGroup(props: ChartGroupProps) {
  const syncKey = `probepilot-charts-${++groupCount}`;
  let keyCount = 0;
  let disposed = false;
  const source = (): ChartSource => props.source ?? trpcSource;
  const range = createMemo(() => props.range, undefined, { equals: sameRange });
  const entries = new Map<string, ChartEntry>();
  const [streamError, setStreamError] = createSignal<unknown>(null);
  const [annotationMap, setAnnotationMap] = createSignal<ReadonlyMap<string, readonly Annotation[]>>(new Map());
  const [annotationsError, setAnnotationsError] = createSignal<unknown>(null);

  // ---- rendering: one animation frame per group, whatever the number of events ----
  // The frame callback only posts a message; the charts draw in that task, right
  // after the frame. Measured (web/bench, headless Chromium, software canvas):
  // drawn inside the frame callback, consecutive slices run back to back with the
  // frames and the main thread never breathes; drawn in a task, each slice is
  // followed by a frame of its own.
  //
  // A canvas is rasterized at the end of the task that drew it, after the
  // script: the slice's drawing budget is the target divided by (1 + the flush's
  // share), learned from a message posted at the end of each slice (it runs once
  // the flush is done). On a GPU-rastered canvas the flush is nearly free and a
  // slice draws for 10 ms; in software it costs two to three times the drawing.
  const dirty = new Set<ChartEntry>();
  let pending = false;
  /** Raster time at the end of a slice's task per ms of drawing, learned (moving average). */
  let rasterShare = 1;
  /** The drawing time of the slice whose raster is being timed, -1 when none is. */
  let measuring = -1;
  const channel = new MessageChannel();
  const schedule = () => {
    if (pending || dirty.size === 0 || document.hidden || disposed) return;
    pending = true;
    requestAnimationFrame(() => channel.port2.postMessage(null));
  };
  const drawSlice = () => {
    pending = false;
    if (disposed) return;
    const start = performance.now();
    const budget = props.frameBudgetMs ?? SLICE_TARGET_MS / (1 + rasterShare);
    for (const entry of dirty) {
      dirty.delete(entry);
      entry.render();
      entry.lastRender = performance.now();
      if (entry.lastRender - start > budget) break;
    }
    const drew = performance.now() - start;
    if (drew > 1 && measuring < 0) {
      measuring = drew;
      rasterDone.port2.postMessage(performance.now());
    }
    schedule();
  };
  channel.port1.onmessage = drawSlice;
  const rasterDone = new MessageChannel();
  rasterDone.port1.onmessage = (e: MessageEvent<number>) => {
    const ratio = Math.min(8, Math.max(0, (performance.now() - e.data) / measuring));
    rasterShare = rasterShare * 0.7 + ratio * 0.3;
    measuring = -1;
  };
  const markDirty = (entry: ChartEntry) => {
    dirty.add(entry);
    schedule();
  };
  const onVisibility = () => schedule();
  document.addEventListener("visibilitychange", onVisibility);

  // ---- data: one stream while live, one range query per chart when fixed ----
  /** The live window while subscribed (events trim to it), null for a fixed range. */
  let liveWindow: number | null = null;
  let connectedRange: TimeRange | null = null;
  let connectedSpecs = "";
  let unsubscribe: (() => void) | null = null;
  /** Fixed-range loads by chart: in flight (abortable), done or failed. */
  const loads = new Map<ChartEntry, { abort: AbortController; failed: boolean }>();
  let connectQueued = false;

  const trim = (entry: ChartEntry) => {
    if (liveWindow === null) return;
    const newest = entry.store.lastTs() ?? 0;
    entry.store.trimBefore(Math.max(Date.now(), newest) - liveWindow);
  };

  const handlers = {
    onEvent(key: string, event: ChartEvent) {
      const entry = entries.get(key);
      if (!entry) return; // a chart removed while its stream was being replaced
      if (event.kind === "backfill") {
        entry.store.applyBackfill(event.series);
        entry.setPhase("ready");
      } else {
        entry.store.applyUpdate(event.series);
      }
      trim(entry);
      markDirty(entry);
    },
    onError(error: unknown) {
      setStreamError(() => error);
    },
  };

  const disconnect = () => {
    unsubscribe?.();
    unsubscribe = null;
    connectedSpecs = "";
  };

  /**
   * (Re)connect to what the registered charts need. Called once registrations
   * settle (a microtask after the last one), on range changes and on retry: a page
   * of 32 charts opens one stream, not 32.
   */
  const connect = (force = false) => {
    connectQueued = false;
    if (disposed) return;
    const r = range();
    const rangeChanged = !connectedRange || !sameRange(connectedRange, r);
    if (rangeChanged) {
      for (const [, load] of loads) load.abort.abort();
      loads.clear();
      for (const entry of entries.values()) {
        entry.store.clear();
        entry.setPhase("loading");
        markDirty(entry);
      }
    }
    connectedRange = r;
    if (r.kind === "live") {
      liveWindow = r.windowMs;
      const stepMs = liveStepFor(r.windowMs);
      const specs: LiveChartSpec[] = [...entries.values()].map((e) => ({ key: e.key, ...e.query, stepMs, windowMs: r.windowMs }));
      const signature = JSON.stringify(specs);
      if (!force && signature === connectedSpecs) return;
      disconnect();
      setStreamError(null);
      if (specs.length > 0) {
        const stops: (() => void)[] = [];
        for (let i = 0; i < specs.length; i += MAX_LIVE_CHARTS) stops.push(source().subscribe(specs.slice(i, i + MAX_LIVE_CHARTS), handlers));
        unsubscribe = () => stops.forEach((stop) => stop());
        connectedSpecs = signature;
      }
    } else {
      liveWindow = null;
      disconnect();
      setStreamError(null);
      const stepMs = stepFor(r.to - r.from);
      for (const entry of entries.values()) {
        const known = loads.get(entry);
        if (known && !(force && known.failed)) continue;
        const abort = new AbortController();
        const load = { abort, failed: false };
        loads.set(entry, load);
        entry.setPhase("loading");
        source()
          .range({ ...entry.query, from: r.from, to: r.to, stepMs }, abort.signal)
          .then(
            (result) => {
              if (abort.signal.aborted) return;
              entry.store.clear();
              entry.store.applyBackfill(result.series);
              entry.setPhase("ready");
              markDirty(entry);
            },
            (error: unknown) => {
              if (abort.signal.aborted) return;
              load.failed = true;
              entry.setPhase("error", error);
            },
          );
      }
    }
    if (rangeChanged || force) loadAnnotations();
  };
  const connectSoon = () => {
    if (connectQueued) return;
    connectQueued = true;
    queueMicrotask(() => connect());
  };
  createEffect(on(range, () => connectSoon(), { defer: true }));

  // ---- annotations: one query per distinct agent selector of the group's charts ----
  let annotationsAbort: AbortController | null = null;
  let annotatedSelectors = "";
  const loadAnnotations = () => {
    const load = source().annotations?.bind(source());
    if (props.annotations === false || !load || disposed) return;
    const selectors = [...new Set([...entries.values()].map((e) => e.query.agentSelector ?? ""))];
    annotatedSelectors = JSON.stringify(selectors);
    annotationsAbort?.abort();
    const abort = (annotationsAbort = new AbortController());
    const { from, to } = resolveRange(range());
    for (const selector of selectors) {
      load({ agentSelector: selector || undefined, from, to }, abort.signal).then(
        (items) => {
          if (abort.signal.aborted) return;
          setAnnotationsError(null);
          setAnnotationMap((prev) => {
            const old = prev.get(selector);
            if (old && sameAnnotations(old, items)) return prev; // unchanged: no chart redraws
            return new Map(prev).set(selector, items);
          });
        },
        (error: unknown) => {
          if (!abort.signal.aborted) setAnnotationsError(() => error);
        },
      );
    }
  };

  // While live: keep windows moving for charts without data, and annotations fresh.
  const clock = setInterval(() => {
    if (liveWindow === null) return;
    const now = performance.now();
    for (const entry of entries.values()) {
      if (now - entry.lastRender > STALE_RENDER_MS) {
        trim(entry);
        markDirty(entry);
      }
    }
  }, 1000);
  const annotationsClock = setInterval(() => {
    if (liveWindow !== null) loadAnnotations();
  }, ANNOTATIONS_REFRESH_MS);

  onCleanup(() => {
    disposed = true;
    clearInterval(clock);
    clearInterval(annotationsClock);
    document.removeEventListener("visibilitychange", onVisibility);
    channel.port1.close();
    rasterDone.port1.close();
    disconnect();
    for (const [, load] of loads) load.abort.abort();
    annotationsAbort?.abort();
  });

  const api: ChartGroupApi = {
    syncKey,
    nextKey: () => `c${++keyCount}`,
    register(entry) {
      entries.set(entry.key, entry);
      connectSoon();
      // A chart with a new agent selector needs its annotations.
      queueMicrotask(() => {
        const selectors = JSON.stringify([...new Set([...entries.values()].map((e) => e.query.agentSelector ?? ""))]);
        if (selectors !== annotatedSelectors) loadAnnotations();
      });
      return () => {
        entries.delete(entry.key);
        dirty.delete(entry);
        loads.get(entry)?.abort.abort();
        loads.delete(entry);
        connectSoon();
      };
    },
    markDirty,
    xRange(lastTs?: number) {
      if (liveWindow === null) {
        const r = range();
        return r.kind === "fixed" ? [r.from, r.to] : [Date.now() - r.windowMs, Date.now()];
      }
      // The clock ends the window; a point stamped ahead of it (the server's clock is ahead) still shows.
      const end = Math.max(Date.now(), lastTs ?? 0);
      return [end - liveWindow, end];
    },
    stepMs: () => {
      const r = range();
      return r.kind === "live" ? liveStepFor(r.windowMs) : stepFor(r.to - r.from);
    },
    range,
    annotations: (selector) => (props.annotations === false ? [] : (annotationMap().get(selector ?? "") ?? [])),
    annotationsError,
    streamError,
    retry: () => connect(true),
  };

  return (
    <ChartGroupContext.Provider value={api}>
      <div class={`chart-group ${props.class ?? ""}`} data-sync-key={syncKey}>
        {props.children}
      </div>
    </ChartGroupContext.Provider>
  );
}
