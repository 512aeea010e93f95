import { matchesSelector, type Labels, type MetricSeries, type Selector, type TelemetryBatch } from "@probepilot/shared";
import type { Aggregation, RangePoint } from "../query-range.ts";

/** Per series and bucket, the raw material every aggregation needs. */
type Cell = { count: number; sum: number; min: number; max: number; increase: number; elapsedMs: number };

export type LiveShape = {
  metric: string;
  agentSelector: Selector;
  seriesSelector: Selector;
  stepMs: number;
  agg: Aggregation;
  by: string[];
};

/**
 * Folds live batches into the same answer a range query gives for the same
 * shape (see `queryRange`): per series and step-aligned bucket first (mean, min,
 * max, count, rate = Σ increase / Σ elapsed), then across the series of each `by`
 * group (avg of the series means, min, max, sum of means, sum of counts, sum of rates). `take()` returns the buckets that
 * changed since the last call, for every group, and forgets buckets older than
 * two steps before the newest (the client already has them).
 */
export class LiveAggregator {
  /** series key → bucket → cell */
  private readonly cells = new Map<string, Map<number, Cell>>();
  /** series key → its group key */
  private readonly groupOf = new Map<string, string>();
  private readonly groupLabels = new Map<string, Labels>();
  /** Counter series: last value and time, for rate. */
  private readonly lastCounter = new Map<string, [number, number]>();
  private readonly touched = new Set<number>();
  /** series key → timestamps already counted (recent buckets only): the seed from Postgres and the live stream overlap. */
  private readonly seen = new Map<string, Set<number>>();
  private newest = 0;

  constructor(
    private readonly shape: LiveShape,
    /** Labels of an agent, or undefined when it is unknown (then its series are skipped). */
    private readonly agentLabels: (agentId: string) => Labels | undefined,
  ) {}

  add(batch: TelemetryBatch): void {
    for (const s of batch.series) {
      if (s.metric !== this.shape.metric || !matchesSelector(this.shape.seriesSelector, s.labels)) continue;
      const agent = this.agentLabels(batch.agentId);
      if (!agent || !matchesSelector(this.shape.agentSelector, agent)) continue;
      this.addSeries(`${batch.agentId}\u0001${batch.probe}\u0001${JSON.stringify(Object.entries(s.labels).sort())}`, s, agent);
    }
  }

  private addSeries(key: string, s: MetricSeries, agent: Labels): void {
    if (!this.groupOf.has(key)) {
      const group: Labels = {};
      for (const k of this.shape.by) {
        const v = s.labels[k] ?? agent[k];
        if (v !== undefined) group[k] = v;
      }
      const gk = JSON.stringify(Object.entries(group).sort());
      this.groupOf.set(key, gk);
      this.groupLabels.set(gk, group);
    }
    let buckets = this.cells.get(key);
    if (!buckets) this.cells.set(key, (buckets = new Map()));
    let seen = this.seen.get(key);
    if (!seen) this.seen.set(key, (seen = new Set()));
    for (const [ts, value] of s.points) {
      if (seen.has(ts) || ts < this.floor) continue;
      seen.add(ts);
      const bucket = ts - (ts % this.shape.stepMs);
      let cell = buckets.get(bucket);
      if (!cell) buckets.set(bucket, (cell = { count: 0, sum: 0, min: Infinity, max: -Infinity, increase: 0, elapsedMs: 0 }));
      cell.count++;
      cell.sum += value;
      cell.min = Math.min(cell.min, value);
      cell.max = Math.max(cell.max, value);
      if (this.shape.agg === "rate") {
        const prev = this.lastCounter.get(key);
        if (prev && ts > prev[0]) {
          // A counter that went down was reset: the new value is the increase since the reset.
          cell.increase += value >= prev[1] ? value - prev[1] : value;
          cell.elapsedMs += ts - prev[0];
        }
        if (!prev || ts > prev[0]) this.lastCounter.set(key, [ts, value]);
      }
      this.touched.add(bucket);
      this.newest = Math.max(this.newest, bucket);
    }
  }

  /** Whether anything changed since the last `take()`. */
  get dirty(): boolean {
    return this.touched.size > 0;
  }

  /** The changed buckets of every group, oldest first. */
  take(): { labels: Labels; points: RangePoint[] }[] {
    const buckets = [...this.touched].sort((a, b) => a - b);
    this.touched.clear();
    const byGroup = new Map<string, Map<number, number[]>>();
    for (const [key, cells] of this.cells) {
      const gk = this.groupOf.get(key)!;
      let perBucket = byGroup.get(gk);
      if (!perBucket) byGroup.set(gk, (perBucket = new Map()));
      for (const b of buckets) {
        const cell = cells.get(b);
        if (!cell) continue;
        const v = this.seriesValue(cell);
        if (v === null) continue;
        const list = perBucket.get(b);
        if (list) list.push(v);
        else perBucket.set(b, [v]);
      }
    }
    const out = [...byGroup].map(([gk, perBucket]) => ({
      labels: this.groupLabels.get(gk)!,
      points: buckets.map((b): RangePoint => [b, this.combine(perBucket.get(b))]),
    }));
    this.forgetBefore(this.newest - 2 * this.shape.stepMs);
    return out;
  }

  private seriesValue(c: Cell): number | null {
    switch (this.shape.agg) {
      case "avg":
      case "sum":
        return c.sum / c.count;
      case "min":
        return c.min;
      case "max":
        return c.max;
      case "count":
        return c.count;
      case "rate":
        // Σ increase / Σ elapsed, as the range query computes it: gaps do not show as spikes.
        return c.elapsedMs > 0 ? (c.increase / c.elapsedMs) * 1000 : null;
    }
  }

  private combine(values: number[] | undefined): number | null {
    if (!values || values.length === 0) return null;
    switch (this.shape.agg) {
      case "avg":
        return values.reduce((a, b) => a + b, 0) / values.length;
      case "min":
        return Math.min(...values);
      case "max":
        return Math.max(...values);
      case "sum":
      case "count":
      case "rate":
        return values.reduce((a, b) => a + b, 0);
    }
  }

  /** Buckets before this are the backfill's: live points for them are ignored. */
  private floor = 0;

  /** Only aggregate points at or after `ts` (the first bucket the backfill left out). */
  startAt(ts: number): void {
    this.floor = ts;
  }

  /** Feed points that are already stored (the current bucket's start), so the first live bucket is whole. */
  seed(agentId: string, probe: string, series: MetricSeries): void {
    this.add({ v: 1, tenantId: "", agentId, probe, probeVersion: "", seq: 0, sentAt: 0, series: [series], histograms: [], events: [], profiles: [] });
  }

  private forgetBefore(cutoff: number): void {
    for (const cells of this.cells.values()) for (const b of cells.keys()) if (b < cutoff) cells.delete(b);
    for (const seen of this.seen.values()) for (const ts of seen) if (ts < cutoff) seen.delete(ts);
  }
}
