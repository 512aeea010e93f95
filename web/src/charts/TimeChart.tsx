import uPlot from "uplot";
import { createEffect, createMemo, createSignal, on, onCleanup, onMount, Show, untrack } from "solid-js";
import { Empty, ErrorState, Loading } from "../components/StateViews.tsx";
import { errorMessage } from "../api/client.ts";
import { formatTime } from "../lib/format.ts";
import { useChartGroup, type ChartEntry, type ChartPhase, type ResolvedQuery } from "./chart-context.ts";
import { chartTheme } from "./chart-theme.ts";
import type { Annotation, TimeChartProps } from "./chart-types.ts";
import { plotOptions } from "./plot-options.ts";
import { SeriesStore } from "./series-store.ts";

const DEFAULT_HEIGHT = 150;
/** Used until the container has a width (e.g. mounted inside a hidden panel); the ResizeObserver corrects it. */
const FALLBACK_WIDTH = 400;

/**
 * A live (or fixed-range) time chart of one metric, inside a `<ChartGroup>`.
 *
 * One uPlot instance per chart, created on mount and fed only by `setData` as
 * data arrives (at most once per frame, coalesced by the group); resized by a
 * ResizeObserver; destroyed on cleanup. It is rebuilt only when the set of
 * series changes (a new label group appears, or the query changes), because
 * series labels, colours and stacking bands are part of uPlot's options.
 *
 * The `<figure>` carries `data-chart` (the title), `data-points` (x values after
 * the last setData: buckets in the window, leading empty ones left out, so it
 * grows while an agent's history fills the window), `data-last-ts` (the newest
 * bucket, Unix ms) and `data-phase` (loading | ready | error) for tests and tooling.
 */
export function TimeChart(props: TimeChartProps) {
  const group = useChartGroup();
  let figure!: HTMLElement;
  let plotEl!: HTMLDivElement;
  const [phase, setPhaseSignal] = createSignal<ChartPhase>("loading");
  const [chartError, setChartError] = createSignal<unknown>(null);
  const [empty, setEmpty] = createSignal(false);
  const height = () => props.height ?? DEFAULT_HEIGHT;
  const query = createMemo(
    (): ResolvedQuery => ({
      metric: props.metric,
      agentSelector: props.agentSelector?.trim() || undefined,
      seriesSelector: props.seriesSelector?.trim() || undefined,
      agg: props.agg ?? "avg",
      by: props.by ?? [],
    }),
    undefined,
    { equals: (a, b) => JSON.stringify(a) === JSON.stringify(b) },
  );
  const annotationList = createMemo(() => group.annotations(query().agentSelector));

  let plot: uPlot | null = null;
  let store = new SeriesStore(!!props.stacked);
  /** The store shape the current uPlot instance was built for. */
  let builtShape = -1;
  let width = 0;
  let wasEmpty = false;
  /** Read by the draw hook at every draw (kept outside Solid: draws are not reactive). */
  let annotations: readonly Annotation[] = [];

  const build = () => {
    plot?.destroy();
    plot = new uPlot(
      plotOptions({
        width: width || FALLBACK_WIDTH,
        height: untrack(height),
        metric: untrack(query).metric,
        unit: untrack(() => props.unit),
        stacked: store.stacked,
        store,
        theme: chartTheme(),
        syncKey: group.syncKey,
        xRange: () => group.xRange(store.lastTs()),
        stepMs: () => group.stepMs(),
        annotations: () => annotations,
      }),
      store.data() as uPlot.AlignedData,
      plotEl,
    );
    builtShape = store.shape;
  };

  const render = () => {
    if (!plot || builtShape !== store.shape) build();
    else {
      const p = plot;
      // batch: draw now rather than in uPlot's microtask, so the group's frame budget sees the cost.
      p.batch(() => p.setData(store.data() as uPlot.AlignedData));
    }
    figure.setAttribute("data-points", String(store.length));
    figure.setAttribute("data-last-ts", String(store.lastTs() ?? ""));
    const isEmpty = store.length === 0;
    if (isEmpty !== wasEmpty) setEmpty((wasEmpty = isEmpty));
  };

  const setPhase = (next: ChartPhase, error?: unknown) => {
    setChartError(() => error ?? null);
    setPhaseSignal(next);
  };

  onMount(() => {
    width = Math.floor(plotEl.clientWidth);
    const resize = new ResizeObserver((items) => {
      const w = Math.floor(items[0]?.contentRect.width ?? 0);
      if (w > 0 && w !== width) {
        width = w;
        plot?.setSize({ width: w, height: untrack(height) });
      }
    });
    resize.observe(plotEl);

    // One registration per query: a new query is a new chart for the group (new key, new store).
    createEffect(() => {
      const q = query();
      const stacked = !!props.stacked;
      // Nothing below may subscribe this effect to anything else: uPlot's constructor
      // calls the x range, which reads the group's range (a new range is not a new chart).
      untrack(() => {
        store = new SeriesStore(stacked);
        const entry: ChartEntry = { key: group.nextKey(), query: q, store, render, setPhase, lastRender: 0 };
        setPhase("loading");
        build();
        onCleanup(group.register(entry));
      });
    });
    // Options baked into the instance: rebuild when they change.
    createEffect(on([() => props.unit, height], () => plot && build(), { defer: true }));
    createEffect(
      on(annotationList, (list) => {
        annotations = list;
        plot?.redraw(false, false);
      }),
    );

    onCleanup(() => {
      resize.disconnect();
      plot?.destroy();
      plot = null;
    });
  });

  const error = () => group.streamError() ?? (phase() === "error" ? chartError() : null);
  const selectorText = () => query().agentSelector ?? "all agents";

  return (
    <figure ref={figure} class="chart" data-chart={props.title} data-points="0" data-last-ts="" data-phase={phase()}>
      <figcaption>
        <span class="chart-title">{props.title}</span>
        <Show when={annotationList().length > 0}>
          <span class="chart-annotations" title={annotationList().map((a) => `${formatTime(a.ts)} · ${a.text}`).join("\n")}>
            ◆ {annotationList().length} rollout {annotationList().length === 1 ? "event" : "events"}
          </span>
        </Show>
        <Show when={group.annotationsError()}>
          {(err) => (
            <span class="chart-annotations chart-annotations-error" title={errorMessage(err())}>
              rollout annotations unavailable
            </span>
          )}
        </Show>
      </figcaption>
      <div class="chart-body">
        <div ref={plotEl} class="chart-plot" style={{ "min-height": `${height()}px` }} />
        <Show when={error()} fallback={
          <Show when={phase() === "loading"} fallback={
            <Show when={empty()}>
              <div class="chart-overlay">
                <Empty title={`No data for ${query().metric} on ${selectorText()} — is the probe running?`} />
              </div>
            </Show>
          }>
            <div class="chart-overlay">
              <Loading what={props.title} />
            </div>
          </Show>
        }>
          {(err) => (
            <div class="chart-overlay">
              <ErrorState error={err()} what={props.title} retry={() => group.retry()} />
            </div>
          )}
        </Show>
      </div>
    </figure>
  );
}
