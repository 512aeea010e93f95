import { estimatePercentile } from "@probepilot/shared";
import type { CommandContext } from "../command.ts";
import { UsageError } from "../command.ts";
import { renderTable } from "../table.ts";
import { formatStep, iso, stepFlag, timeRange } from "../time.ts";

/** The automatic step aims at about this many rows: a table, not a chart, so fewer than `query`'s points. */
const TARGET_ROWS = 30;
/** Rows shown at most (the newest); `--json` has them all. */
const MAX_ROWS = 50;

/**
 * `histogram METRIC [--selector S] [--series-selector S] [--since 1h | --from T --to T]
 * [--step 2m] [--percentiles 50,90,99] [--json]`: percentiles of a log2 histogram
 * metric (latencies: `runqueue_latency`, `block_io_latency`, …) merged over the
 * matching series, one row per step with the count, then a line for the whole range.
 */
export async function histogram(ctx: CommandContext): Promise<void> {
  const metric = ctx.requireArg(0, "histogram metric name (`probepilot metrics` lists them, KIND histogram)");
  const { from, to } = timeRange(ctx, "1h");
  const stepMs = stepFlag(ctx, to - from, TARGET_ROWS);
  const percentiles = ctx.flags.percentiles === undefined ? undefined : parsePercentiles(ctx.flags.percentiles);

  const result = await ctx.api.telemetry.histogram.query({
    metric,
    agentSelector: ctx.flags.selector,
    seriesSelector: ctx.flags["series-selector"],
    from,
    to,
    stepMs,
    percentiles,
  });
  if (ctx.json) return ctx.print(result);

  const header = [metric, `step ${formatStep(stepMs)}`, `${result.seriesMatched} series`, `${iso(from)} → ${iso(to)}`].join(" · ");
  if (result.seriesMatched === 0) {
    const filters = [ctx.flags.selector && `agents "${ctx.flags.selector}"`, ctx.flags["series-selector"] && `series "${ctx.flags["series-selector"]}"`].filter(Boolean);
    return ctx.out(`${header}\n\nno histogram "${metric}"${filters.length ? ` for ${filters.join(" and ")}` : ""}; \`probepilot metrics\` lists the stored ones (KIND histogram)`);
  }
  // The unit is the series registry's (the histogram result has none): one more small call.
  const catalog = await ctx.api.telemetry.metrics.query({ prefix: metric });
  const unit = catalog.find((m) => m.metric === metric && m.kind === "histogram")?.unit ?? null;
  const withUnit = (v: number | null) => (v === null ? "-" : `${value(v)}${unit ? ` ${unit}` : ""}`);

  const first = Math.max(0, result.timestamps.length - MAX_ROWS);
  const table = renderTable(
    ["TIME", "COUNT", ...result.percentiles.map((p) => `P${p.p}${unit ? ` (${unit})` : ""}`)],
    result.timestamps.slice(first).map((ts, i) => [
      iso(ts, stepMs % 1000 !== 0),
      String(result.count[first + i]),
      ...result.percentiles.map((p) => (p.values[first + i] == null ? "-" : value(p.values[first + i]!))),
    ]),
  );
  const earlier = first > 0 ? `\n(${first} earlier step(s); --json prints them all)` : "";

  // The whole range: every step's log2 buckets merged, estimated as the API does per step.
  const merged: number[] = new Array<number>(64).fill(0);
  for (const row of result.heatmap) merged[row.bucket] = row.counts.reduce((a, b) => a + b, 0);
  const total = result.count.reduce((a, b) => a + b, 0);
  const sum = result.sum.reduce((a, b) => a + b, 0);
  const summary =
    total === 0
      ? "no values in this range"
      : [
          `${total} value(s) over the range`,
          ...result.percentiles.map((p) => `p${p.p} ${withUnit(estimatePercentile(merged, p.p))}`),
          `mean ${withUnit(sum / total)}`,
        ].join(" · ");
  ctx.out(`${header}\n\n${table}${earlier}\n\n${summary}`);
}

/** `50,90,99` (or `p50,p99.9`) → numbers; the API checks the range 0–100. */
export function parsePercentiles(text: string): number[] {
  const parts = text.split(",").map((p) => p.trim().replace(/^p/i, ""));
  const bad = parts.find((p) => !/^\d+(\.\d+)?$/.test(p));
  if (bad !== undefined) throw new UsageError(`--percentiles "${text}": expected numbers from 0 to 100 separated by commas, e.g. 50,90,99 or 99.9 ("${bad}" is not one)`);
  return parts.map(Number);
}



/** Three significant digits below 100 (log2 buckets are a factor of 2 wide: more would be noise), whole numbers above. */
function value(v: number): string {
  return Math.abs(v) >= 100 ? String(Math.round(v)) : String(Number(v.toPrecision(3)));
}

