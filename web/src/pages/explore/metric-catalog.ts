/**
 * Pure helpers of the Explore page's Metrics tab: filtering the metric catalog as
 * the user types, the default aggregation of a metric kind, the unit a chart
 * shows after aggregation, the group-by choices and the per-series summary table.
 * No Solid, no DOM: unit-tested in web/test/explore/.
 */
import type { RouterOutputs } from "../../api/client.ts";
import type { Aggregation } from "../../charts/chart-types.ts";

/** One entry of `telemetry.metrics`: name, kind, unit, label keys, series and agents. */
export type CatalogMetric = RouterOutputs["telemetry"]["metrics"][number];

/** The aggregations the API offers, in the order the picker lists them. */
export const AGGREGATION_CHOICES: readonly Aggregation[] = ["avg", "sum", "min", "max", "count", "rate"];

/** Counters only ever grow: their per-second rate is what people chart. Gauges read as they are. */
export function defaultAggregation(kind: string | undefined): Aggregation {
  return kind === "counter" ? "rate" : "avg";
}

/** True for an aggregation the API knows (URL params are user input). */
export function isAggregation(text: string): text is Aggregation {
  return (AGGREGATION_CHOICES as readonly string[]).includes(text);
}

/**
 * The unit of a chart's values after aggregation: a rate is per second
 * ("bytes" → "bytes/s", which formatValue reads as such), a count is a number of
 * samples, anything else keeps the metric's unit.
 */
export function aggregatedUnit(unit: string | null | undefined, agg: Aggregation): string | null {
  if (agg === "count") return null;
  if (agg !== "rate") return unit ?? null;
  if (!unit) return "/s";
  // A rate of seconds per second is a share of one second: a ratio (CPU seconds → utilization).
  if (unit === "seconds" || unit === "s") return "ratio";
  return `${unit}/s`;
}

/**
 * The catalog entries matching what was typed, best first. Every whitespace-separated
 * term must occur in the name (case-insensitive); names where the first term starts
 * the name or one of its `_` segments come before names that merely contain it, then
 * alphabetical. An empty query lists everything alphabetically.
 */
export function filterMetrics<T extends { metric: string }>(catalog: readonly T[], query: string): T[] {
  const terms = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (terms.length === 0) return [...catalog].sort((a, b) => a.metric.localeCompare(b.metric));
  const scored: { item: T; score: number }[] = [];
  for (const item of catalog) {
    const name = item.metric.toLowerCase();
    if (!terms.every((t) => name.includes(t))) continue;
    const first = terms[0]!;
    const score = name === first ? 0 : name.startsWith(first) ? 1 : name.includes(`_${first}`) ? 2 : 3;
    scored.push({ item, score });
  }
  return scored.sort((a, b) => a.score - b.score || a.item.metric.localeCompare(b.item.metric)).map((s) => s.item);
}

/**
 * Group-by choices: the metric's own label keys first (they split its series),
 * then the agent label keys (fleet dimensions such as env or region), each once.
 */
export function groupByChoices(metricKeys: readonly string[], agentKeys: readonly string[]): { key: string; source: "series" | "agent" }[] {
  const seen = new Set<string>();
  const out: { key: string; source: "series" | "agent" }[] = [];
  for (const key of metricKeys) if (!seen.has(key)) (seen.add(key), out.push({ key, source: "series" }));
  for (const key of [...agentKeys].sort()) if (!seen.has(key)) (seen.add(key), out.push({ key, source: "agent" }));
  return out;
}

/** Every label key carried by a list of agents (their merged `labels`), sorted. */
export function agentLabelKeys(agents: readonly { labels: Record<string, string> }[]): string[] {
  const keys = new Set<string>();
  for (const a of agents) for (const k of Object.keys(a.labels)) keys.add(k);
  return [...keys].sort();
}

/** `by=mode,env` in the URL ↔ the list of keys (blank entries dropped, order kept, duplicates removed). */
export function parseGroupBy(text: string): string[] {
  return [...new Set(text.split(",").map((k) => k.trim()).filter(Boolean))];
}

/** Last, min, max and mean of one series over the range, ignoring empty buckets. */
export type SeriesSummary = { last: number | null; min: number | null; max: number | null; avg: number | null; points: number };

/** The summary of a series' points (`[ts, value | null]`, oldest first). */
export function summarizeSeries(points: readonly (readonly [number, number | null])[]): SeriesSummary {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let n = 0;
  let last: number | null = null;
  for (const [, v] of points) {
    if (v === null || !Number.isFinite(v)) continue;
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
    n++;
    last = v;
  }
  return n === 0 ? { last: null, min: null, max: null, avg: null, points: 0 } : { last, min, max, avg: sum / n, points: n };
}

/** The table of a range query's series: labels and summary, busiest (highest mean) first, empty series last. */
export function seriesTable(series: readonly { labels: Record<string, string>; points: readonly (readonly [number, number | null])[] }[]) {
  return series
    .map((s) => ({ labels: s.labels, ...summarizeSeries(s.points) }))
    .sort((a, b) => (b.avg ?? -Infinity) - (a.avg ?? -Infinity) || labelText(a.labels).localeCompare(labelText(b.labels)));
}

/** `{mode: "user"}` → "mode=user"; no labels (one ungrouped series) → "". */
export function labelText(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(", ");
}
