import type { Histogram, Labels, MetricSeries, TelemetryEvent } from "@probepilot/shared";
import { decodeHist } from "./records.ts";

/**
 * Histograms stay cumulative in the kernel (no read-then-zero race) and are
 * sent as per-interval deltas, which is what `telemetry.histogram` sums.
 * Keys are whatever identifies one histogram series (its labels, serialized).
 */
export class HistogramDeltas {
  private readonly previous = new Map<string, { slots: number[]; sum: number; count: number }>();

  constructor(
    private readonly metric: string,
    private readonly unit: string,
  ) {}

  /** The change since the last call for this key, or null when nothing was added. */
  delta(key: string, labels: Labels, value: Buffer, at: number): Histogram | null {
    const current = decodeHist(value);
    const before = this.previous.get(key);
    this.previous.set(key, current);
    // A smaller count means the map was recreated (probe restart): everything in it is new.
    const reset = !before || current.count < before.count;
    const count = reset ? current.count : current.count - before.count;
    if (count === 0) return null;
    const buckets = current.slots.map((n, i) => (reset ? n : n - before.slots[i]!));
    let last = buckets.length;
    while (last > 0 && buckets[last - 1] === 0) last--;
    return { metric: this.metric, unit: this.unit, labels, at, buckets: buckets.slice(0, last), sum: reset ? current.sum : current.sum - before.sum, count };
  }
}

/**
 * A per-interval event budget (`maxEventsPerSec` × interval): events past it are
 * counted, not sent, and the count is reported as a cumulative counter series
 * so a burst shows up as a visible loss instead of an oversize batch.
 */
export class EventBudget {
  private used = 0;
  private droppedTotal = 0;
  private readonly perInterval: number;
  readonly events: TelemetryEvent[] = [];

  constructor(
    private readonly probe: string,
    maxEventsPerSec: number,
    intervalMs: number,
  ) {
    this.perInterval = Math.max(1, Math.round((maxEventsPerSec * intervalMs) / 1000));
  }

  /** Whether one more event fits this interval (call before decoding it: a dropped one costs nothing). */
  admit(): boolean {
    if (this.used < this.perInterval) {
      this.used++;
      return true;
    }
    this.droppedTotal++;
    return false;
  }

  push(event: TelemetryEvent): void {
    this.events.push(event);
  }

  /** The interval's events and, once anything was dropped, the drop counter. */
  take(at: number): { events: TelemetryEvent[]; series: MetricSeries[] } {
    const events = this.events.splice(0);
    this.used = 0;
    const series: MetricSeries[] =
      this.droppedTotal > 0
        ? [{ metric: "probepilot_probe_events_dropped_total", kind: "counter", unit: "events", labels: { probe: this.probe }, points: [[at, this.droppedTotal]] }]
        : [];
    return { events, series };
  }
}

/**
 * Cumulative counters kept in the agent from drained (per-interval) kernel maps
 * or from events. A series is sent in the intervals where it changed. With
 * `forgetIdleAfterMs` (for per-process or per-peer keys, which come and go) a
 * counter idle that long is dropped, and comes back from 0 if it moves again
 * (a counter reset, which `rate` handles): memory stays bounded.
 */
/** How long a per-process or per-peer counter may stay idle before it is forgotten. */
export const IDLE_KEY_MS = 10 * 60_000;

export class CounterTotals {
  private readonly totals = new Map<string, { labels: Labels; value: number; lastAt: number; changed: boolean }>();

  constructor(private readonly forgetIdleAfterMs = Infinity) {}

  add(key: string, labels: Labels, delta: number): void {
    const entry = this.totals.get(key);
    if (entry) {
      entry.value += delta;
      entry.changed = true;
    } else this.totals.set(key, { labels, value: delta, lastAt: 0, changed: true });
  }

  /** Set a counter the kernel keeps cumulatively (a per-CPU array read every interval). */
  set(key: string, labels: Labels, value: number): void {
    const entry = this.totals.get(key);
    if (!entry) this.totals.set(key, { labels, value, lastAt: 0, changed: true });
    else if (entry.value !== value) {
      entry.value = value;
      entry.changed = true;
    }
  }

  /** Series of the counters that changed since the last call, stamped `at`. */
  series(metric: string, unit: string, at: number): MetricSeries[] {
    const out: MetricSeries[] = [];
    for (const [key, entry] of this.totals) {
      if (entry.changed) {
        out.push({ metric, kind: "counter", unit, labels: entry.labels, points: [[at, entry.value]] });
        entry.changed = false;
        entry.lastAt = at;
      } else if (at - entry.lastAt > this.forgetIdleAfterMs) this.totals.delete(key);
    }
    return out;
  }
}

/**
 * A kernel-provided string as a label value (alphanumerics, '-', '_', '.', at
 * most 63, alphanumeric at both ends): `kworker/0:1` becomes `kworker_0_1`.
 * Events keep the original text in their attributes.
 */
export function labelValue(text: string): string {
  return text
    .replace(/[^A-Za-z0-9._-]/g, "_")
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, "");
}
