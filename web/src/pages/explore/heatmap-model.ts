/**
 * Pure logic of the histogram heatmap: the colour scale (log of the count), the
 * cell under the cursor, the y range and the whole-range percentiles. The uPlot
 * drawing is in Heatmap.tsx; this part is unit-tested in web/test/explore/.
 */
import { estimatePercentile } from "@probepilot/shared";
import type { RouterOutputs } from "../../api/client.ts";

type HistogramResult = RouterOutputs["telemetry"]["histogram"];

/** A row of `telemetry.histogram`'s heatmap: log2 bucket `bucket` = values in [lower, upper). */
export type HeatmapRow = HistogramResult["heatmap"][number];

/**
 * The part of `telemetry.histogram`'s answer the heatmap draws: `timestamps` (the
 * start of every time bucket, Unix ms) with the rows' `counts`, `count` and the
 * percentile values aligned with it.
 */
export type HeatmapData = Pick<HistogramResult, "stepMs" | "timestamps" | "heatmap" | "percentiles" | "count">;

/**
 * Colour stops from few (dark violet, still visible on the dark theme) to many
 * (pale yellow), after matplotlib's "inferno": perceptually ordered and readable
 * by colour-blind people, with the percentile lines drawn in cool colours on top.
 */
export const HEATMAP_STOPS: readonly (readonly [number, number, number])[] = [
  [52, 16, 92],
  [98, 22, 110],
  [147, 38, 103],
  [194, 58, 80],
  [229, 92, 48],
  [247, 140, 9],
  [249, 196, 32],
  [252, 255, 164],
];

/** `n` CSS colours evenly spread over {@link HEATMAP_STOPS} (a lookup table: no string is built per cell). */
export function colorRamp(n = 256): string[] {
  const out: string[] = [];
  const last = HEATMAP_STOPS.length - 1;
  for (let i = 0; i < n; i++) {
    const t = n === 1 ? 1 : (i / (n - 1)) * last;
    const k = Math.min(last - 1, Math.floor(t));
    const f = t - k;
    const a = HEATMAP_STOPS[k]!;
    const b = HEATMAP_STOPS[k + 1]!;
    const c = (j: number) => Math.round(a[j]! + (b[j]! - a[j]!) * f);
    out.push(`rgb(${c(0)},${c(1)},${c(2)})`);
  }
  return out;
}

/**
 * Where a count falls on the colour scale, 0 to 1, on a log scale: latency
 * histograms span orders of magnitude (a busy bucket holds 100,000 samples, its
 * tail a handful), and a linear scale would paint the tail invisible.
 * `log(1 + count) / log(1 + max)`; 0 for an empty cell, 1 for the fullest.
 */
export function colorPosition(count: number, max: number): number {
  if (count <= 0 || max <= 0) return 0;
  return Math.min(1, Math.log1p(count) / Math.log1p(max));
}

/** The largest cell count (the top of the colour scale); 0 when there is none. */
export function maxCount(rows: readonly HeatmapRow[]): number {
  let max = 0;
  for (const r of rows) for (const c of r.counts) if (c > max) max = c;
  return max;
}

/** The y range to show: from the lowest non-empty bucket's lower bound to the highest's upper bound. */
export function valueRange(rows: readonly HeatmapRow[]): [number, number] {
  if (rows.length === 0) return [1, 2];
  let lo = Infinity;
  let hi = -Infinity;
  for (const r of rows) {
    if (r.lower < lo) lo = r.lower;
    if (r.upper > hi) hi = r.upper;
  }
  return [lo, hi];
}

/** What the cursor points at: one time bucket × one value bucket. */
export type HeatmapCell = {
  /** Index into `timestamps`. */
  column: number;
  from: number;
  to: number;
  bucket: number;
  lower: number;
  upper: number;
  count: number;
  /** All samples of that time bucket (the column), for "12% of the interval". */
  columnTotal: number;
};

/**
 * The cell at time `tsMs` and value `value` (in the metric's unit), or null
 * outside the data. Value bucket `i` is [2^i, 2^(i+1)), so `floor(log2(value))`.
 */
export function cellAt(data: HeatmapData, tsMs: number, value: number): HeatmapCell | null {
  const n = data.timestamps.length;
  if (n === 0 || !(value >= 1) || !Number.isFinite(tsMs)) return null;
  const column = Math.floor((tsMs - data.timestamps[0]!) / data.stepMs);
  if (column < 0 || column >= n) return null;
  const bucket = Math.floor(Math.log2(value));
  const row = data.heatmap.find((r) => r.bucket === bucket);
  let columnTotal = 0;
  for (const r of data.heatmap) columnTotal += r.counts[column] ?? 0;
  const from = data.timestamps[column]!;
  return { column, from, to: from + data.stepMs, bucket, lower: 2 ** bucket, upper: 2 ** (bucket + 1), count: row?.counts[column] ?? 0, columnTotal };
}

/** All rows' counts summed over the whole range, indexed by bucket (the input of {@link estimatePercentile}). */
export function mergedCounts(rows: readonly HeatmapRow[]): number[] {
  const top = rows.reduce((m, r) => Math.max(m, r.bucket), -1);
  const merged = new Array<number>(top + 1).fill(0);
  for (const r of rows) for (const c of r.counts) merged[r.bucket]! += c;
  return merged;
}

/** Percentiles over the whole range (not per time bucket): the headline numbers above the heatmap. */
export function rangePercentiles(rows: readonly HeatmapRow[], ps: readonly number[]): { p: number; value: number | null }[] {
  const merged = mergedCounts(rows);
  return ps.map((p) => ({ p, value: estimatePercentile(merged, p) }));
}

/** True when no time bucket holds a single bucketed value (draw the empty state instead). */
export function isEmptyHistogram(data: Pick<HeatmapData, "heatmap">): boolean {
  return data.heatmap.every((r) => r.counts.every((c) => c <= 0));
}

/**
 * The uPlot data of the percentile lines: x at the middle of each time bucket
 * (seconds, uPlot's time unit), one array per percentile (null = no value).
 */
export function percentileLines(data: HeatmapData): [number[], ...(number | null)[][]] {
  const xs = data.timestamps.map((t) => (t + data.stepMs / 2) / 1000);
  return [xs, ...data.percentiles.map((p) => p.values)];
}

/** "p50", "p99.9". */
export function percentileLabel(p: number): string {
  return `p${p}`;
}

/** Indices of values with no value on either side (a line cannot show them; they are drawn as dots). */
export function isolatedPoints(values: readonly (number | null)[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < values.length; i++) {
    if (values[i] === null || values[i] === undefined) continue;
    if ((i === 0 || values[i - 1] === null) && (i === values.length - 1 || values[i + 1] === null)) out.push(i);
  }
  return out;
}
