import type { SeriesData } from "./chart-types.ts";

/** A value of a bucket; null is a bucket without samples (drawn as a gap). */
export type Value = number | null;

/**
 * The stable key of a series' labels, also its legend label: `mode=user`,
 * `cpu=0, mode=user` (keys sorted), "" when the chart is not grouped.
 */
export function labelKey(labels: Record<string, string>): string {
  const keys = Object.keys(labels);
  if (keys.length > 1) keys.sort();
  let key = "";
  for (let i = 0; i < keys.length; i++) key += (i ? ", " : "") + keys[i] + "=" + labels[keys[i]!];
  return key;
}

/**
 * The data of one chart in the column layout uPlot draws (`[xs, ...ys]`, one x
 * array shared by every series), kept up to date by merging stream events.
 *
 * Live updates carry the newest one or two buckets, so the hot path appends at
 * the end or replaces in place after a short backwards scan: no per-point
 * allocation and nothing rebuilt per update. Only a backfill (first event, or a
 * reconnect that overlaps what is here) may rebuild the arrays.
 *
 * When `stacked`, a second set of arrays holds the running sums (series 1 at the
 * bottom), kept in step with the raw values, which the legend still shows.
 */
export class SeriesStore {
  /** Bucket timestamps (Unix ms), ascending and unique. */
  xs: number[] = [];
  /** Raw values per series, each as long as `xs`. */
  ys: Value[][] = [];
  /** Running sums per series (only when stacked). */
  stackedYs: Value[][] = [];
  /** Label key per series (see {@link labelKey}). */
  keys: string[] = [];
  /** Labels per series. */
  labels: Record<string, string>[] = [];
  /**
   * Bumped whenever the set of series changes: series options (labels, colours,
   * stacking bands) are baked into a uPlot instance, so the chart rebuilds it
   * when this moves (and only then).
   */
  shape = 0;

  private readonly byKey = new Map<string, number>();
  private aligned: Value[][] | null = null;

  constructor(readonly stacked = false) {}

  /** Number of buckets (x values). */
  get length(): number {
    return this.xs.length;
  }

  get seriesCount(): number {
    return this.ys.length;
  }

  /** The newest bucket's timestamp, or undefined when empty. */
  lastTs(): number | undefined {
    return this.xs.length ? this.xs[this.xs.length - 1] : undefined;
  }

  /**
   * `[xs, ...ys]` for `uPlot.setData` (the running sums when stacked). The same
   * array object while neither the series set nor the arrays are replaced, so a
   * render costs no allocation.
   */
  data(): Value[][] {
    if (!this.aligned) this.aligned = [this.xs as Value[], ...(this.stacked ? this.stackedYs : this.ys)];
    return this.aligned;
  }

  /** The newest non-null raw value of a series (the legend's "now"), or null. */
  lastValue(seriesIndex: number): Value {
    const ys = this.ys[seriesIndex];
    if (!ys) return null;
    for (let i = ys.length - 1; i >= 0; i--) if (ys[i] !== null && ys[i] !== undefined) return ys[i]!;
    return null;
  }

  /** Forget everything (new range or query); the series set counts as changed. */
  clear(): void {
    this.xs = [];
    this.ys = [];
    this.stackedYs = [];
    this.keys = [];
    this.labels = [];
    this.byKey.clear();
    this.aligned = null;
    this.shape++;
  }

  /**
   * Merge a backfill: its buckets replace the ones with the same timestamps,
   * buckets it does not cover are kept (a reconnect's backfill overlaps what the
   * chart already has), new series are added in label order.
   */
  applyBackfill(series: readonly SeriesData[]): void {
    const fresh = series.filter((s) => !this.byKey.has(labelKey(s.labels)));
    fresh.sort((a, b) => (labelKey(a.labels) < labelKey(b.labels) ? -1 : 1));
    for (const s of fresh) this.seriesIndex(s.labels);

    const incoming: number[] = [];
    for (const s of series) for (const p of s.points) incoming.push(p[0]);
    incoming.sort((a, b) => a - b);
    const merged = mergeUnique(this.xs, incoming);
    if (merged.length !== this.xs.length) this.remap(merged);

    for (const s of series) {
      const ys = this.ys[this.seriesIndex(s.labels)]!;
      let i = 0;
      // Points come oldest first: walk forwards instead of searching each one.
      for (const p of s.points) {
        if (i >= this.xs.length || this.xs[i]! > p[0]) i = 0;
        while (this.xs[i]! < p[0]) i++;
        ys[i] = p[1];
      }
    }
    if (this.stacked) this.restack(0);
    this.trimBefore(-Infinity);
  }

  /**
   * Merge a live update (the current bucket or two): a known timestamp is
   * replaced in place, a newer one appended (every other series gets a gap there
   * until it reports). Returns the number of buckets appended.
   */
  applyUpdate(series: readonly SeriesData[]): number {
    const before = this.xs.length;
    let lowest = Infinity;
    for (let s = 0; s < series.length; s++) {
      const { labels, points } = series[s]!;
      const ys = this.ys[this.seriesIndex(labels)]!;
      for (let p = 0; p < points.length; p++) {
        const point = points[p]!;
        const i = this.slotFor(point[0]);
        ys[i] = point[1];
        if (i < lowest) lowest = i;
      }
    }
    if (this.stacked && lowest !== Infinity) this.restack(lowest);
    return this.xs.length - before;
  }

  /**
   * Drop buckets older than `minTs` (the rolling window), and leading buckets
   * where no series has a value: a backfill is a whole window of buckets, mostly
   * empty for an agent that just started, and they would only count as points.
   * Returns how many were dropped.
   */
  trimBefore(minTs: number): number {
    const n = this.xs.length;
    let k = 0;
    while (k < n && this.xs[k]! < minTs) k++;
    while (k < n && this.emptyAt(k)) k++;
    if (k === 0) return 0;
    dropFront(this.xs, k);
    for (const ys of this.ys) dropFront(ys, k);
    for (const ys of this.stackedYs) dropFront(ys, k);
    return k;
  }

  /** Index of the series with these labels, added (with gaps everywhere) when new. */
  private seriesIndex(labels: Record<string, string>): number {
    const key = labelKey(labels);
    const known = this.byKey.get(key);
    if (known !== undefined) return known;
    const index = this.ys.length;
    this.byKey.set(key, index);
    this.keys.push(key);
    this.labels.push(labels);
    this.ys.push(new Array<Value>(this.xs.length).fill(null));
    if (this.stacked) this.stackedYs.push(new Array<Value>(this.xs.length).fill(null));
    this.aligned = null;
    this.shape++;
    return index;
  }

  /** The index of bucket `ts`, appended or inserted (with gaps) when missing. */
  private slotFor(ts: number): number {
    const xs = this.xs;
    const n = xs.length;
    if (n === 0 || ts > xs[n - 1]!) {
      xs.push(ts);
      for (let s = 0; s < this.ys.length; s++) this.ys[s]!.push(null);
      for (let s = 0; s < this.stackedYs.length; s++) this.stackedYs[s]!.push(null);
      return n;
    }
    // Updates touch the newest buckets: a few steps back before searching.
    let i = n - 1;
    const stop = Math.max(0, n - 4);
    while (i > stop && xs[i]! > ts) i--;
    if (xs[i] === ts) return i;
    if (xs[i]! > ts) i = lowerBound(xs, ts);
    else i++;
    if (xs[i] === ts) return i;
    // A bucket between two known ones (late data after a gap): rare, so splice.
    xs.splice(i, 0, ts);
    for (const ys of this.ys) ys.splice(i, 0, null);
    for (const ys of this.stackedYs) ys.splice(i, 0, null);
    return i;
  }

  /** Rebuild the arrays on a new set of timestamps (a superset of the current one). */
  private remap(merged: number[]): void {
    const old = this.xs;
    const move = (src: Value[]): Value[] => {
      const out = new Array<Value>(merged.length).fill(null);
      for (let i = 0, j = 0; i < old.length; i++) {
        while (merged[j]! < old[i]!) j++;
        out[j] = src[i]!;
      }
      return out;
    };
    this.ys = this.ys.map(move);
    this.stackedYs = this.stackedYs.map(move);
    this.xs = merged;
    this.aligned = null;
  }

  /** Recompute the running sums from bucket `from` on (a gap stays a gap). */
  private restack(from: number): void {
    const n = this.xs.length;
    for (let i = from; i < n; i++) {
      let sum = 0;
      for (let s = 0; s < this.ys.length; s++) {
        const v = this.ys[s]![i];
        this.stackedYs[s]![i] = v === null || v === undefined ? null : (sum += v);
      }
    }
  }

  private emptyAt(i: number): boolean {
    for (let s = 0; s < this.ys.length; s++) if (this.ys[s]![i] !== null) return false;
    return true;
  }
}

/** The sorted union of two ascending arrays, without duplicates. */
function mergeUnique(a: readonly number[], b: readonly number[]): number[] {
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const next = j >= b.length || (i < a.length && a[i]! <= b[j]!) ? a[i++]! : b[j++]!;
    if (out.length === 0 || out[out.length - 1] !== next) out.push(next);
  }
  return out;
}

/** First index whose value is ≥ `v`. */
function lowerBound(xs: readonly number[], v: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Remove the first `k` items in place (`shift` is O(1) in V8 for the usual k = 1). */
function dropFront(arr: unknown[], k: number): void {
  if (k === 1) arr.shift();
  else arr.splice(0, k);
}
