import type { CommandContext } from "../command.ts";
import { UsageError } from "../command.ts";
import { formatStep, iso, stepFlag, timeRange } from "../time.ts";
import { formatLabels, renderTable } from "../table.ts";

const AGGS = ["avg", "min", "max", "sum", "count", "rate"] as const;
type Agg = (typeof AGGS)[number];

/** The automatic step aims at about this many points: enough for a trend, few enough to read. */
const TARGET_POINTS = 100;
/** Rows of the time/value table shown per series (the newest); `--json` has them all. */
const TABLE_ROWS = 10;
const SPARK = "▁▂▃▄▅▆▇█";
const SPARK_WIDTH = 60;

/**
 * `query METRIC [--selector S] [--series-selector S] [--since 5m] [--until now]
 * [--step 10s] [--agg avg] [--by k,k] [--json]`: a range query, one block per
 * series (group) with a summary, a sparkline and the newest points.
 */
export async function query(ctx: CommandContext): Promise<void> {
  const metric = ctx.requireArg(0, "metric name (`probepilot metrics` lists them)");
  const { from, to } = timeRange(ctx, "5m");
  const stepMs = stepFlag(ctx, to - from, TARGET_POINTS);
  const agg = (ctx.flags.agg ?? "avg") as Agg;
  if (!AGGS.includes(agg)) throw new UsageError(`--agg must be one of ${AGGS.join(", ")} (got "${ctx.flags.agg}")`);
  const by = ctx.flags.by ? ctx.flags.by.split(",").map((k) => k.trim()).filter((k) => k !== "") : [];
  if (ctx.flags.watch) return watch(ctx, { metric, agentSelector: ctx.flags.selector, seriesSelector: ctx.flags["series-selector"], stepMs, agg, by, windowMs: to - from });

  const result = await ctx.api.telemetry.range.query({
    metric,
    agentSelector: ctx.flags.selector,
    seriesSelector: ctx.flags["series-selector"],
    from,
    to,
    stepMs,
    agg,
    by,
  });
  if (ctx.json) return ctx.print(result);

  const header = [
    `${metric} ${agg}${by.length ? ` by ${by.join(",")}` : ""}`,
    `step ${formatStep(stepMs)}`,
    `tier ${result.tier}${result.tier !== "raw" && result.rawFrom < to ? ` (raw from ${iso(result.rawFrom)})` : ""}`,
    `${iso(from)} → ${iso(to)}`,
  ].join(" · ");
  if (result.series.length === 0) {
    const filters = [ctx.flags.selector && `agents "${ctx.flags.selector}"`, ctx.flags["series-selector"] && `series "${ctx.flags["series-selector"]}"`].filter(Boolean);
    return ctx.out(`${header}\n\nno data${filters.length ? ` for ${filters.join(" and ")}` : ""} in this range; \`probepilot metrics\` lists the stored metrics`);
  }
  const blocks = result.series.map((s) => renderSeries(s.labels, s.points, stepMs));
  ctx.out(`${header} · ${result.series.length} series\n\n${blocks.join("\n\n")}`);
}

type WatchInput = { metric: string; agentSelector?: string; seriesSelector?: string; stepMs: number; agg: Agg; by: string[]; windowMs: number };

/**
 * `query METRIC --watch`: the same query, live (`telemetry.live`): the backfill as a
 * summary, then one line per update with each group's newest value, until Ctrl-C.
 * With `--json`, one JSON event per line.
 */
async function watch(ctx: CommandContext, input: WatchInput): Promise<void> {
  let cleanup = () => {};
  await new Promise<void>((resolve, reject) => {
    const sub = ctx.api.telemetry.live.subscribe(input, {
      onData: ({ data }) => {
        if (ctx.json) return ctx.out(JSON.stringify(data));
        if (data.kind === "backfill") {
          const blocks = data.series.map((s) => renderSeries(s.labels, s.points, input.stepMs));
          return ctx.out(`${input.metric} ${input.agg} · live · step ${formatStep(input.stepMs)} · Ctrl-C stops\n\n${blocks.join("\n\n") || "(no data yet)"}\n`);
        }
        for (const s of data.series) {
          const last = [...s.points].reverse().find(([, v]) => v !== null);
          if (last) ctx.out(`${iso(last[0])}  ${formatLabels(s.labels) || "(all)"}  ${num(last[1]!)}`);
        }
      },
      onError: (err) => reject(err),
      onComplete: () => resolve(),
    });
    const stop = () => {
      sub.unsubscribe();
      resolve();
    };
    process.once("SIGINT", stop);
    ctx.signal?.addEventListener("abort", stop, { once: true });
    cleanup = () => {
      process.off("SIGINT", stop);
      ctx.signal?.removeEventListener("abort", stop);
    };
  }).finally(() => cleanup());
}

/** `metrics [--selector S] [--prefix P]`: the metric catalog. */
export async function metrics(ctx: CommandContext): Promise<void> {
  const list = await ctx.api.telemetry.metrics.query({ agentSelector: ctx.flags.selector, prefix: ctx.flags.prefix });
  if (ctx.json) return ctx.print(list);
  if (list.length === 0) {
    return ctx.out(ctx.flags.selector || ctx.flags.prefix ? "no metrics match" : "no metrics stored yet: agents publish them once a probe runs (npm start runs a local agent with the host probe)");
  }
  ctx.out(
    renderTable(
      ["METRIC", "KIND", "UNIT", "SERIES", "AGENTS", "LABEL KEYS"],
      list.map((m) => [m.metric, m.kind, m.unit ?? "-", String(m.series), String(m.agents), m.labelKeys.join(",") || "-"]),
    ),
  );
  ctx.out(`\n${list.length} metric(s); query one with \`probepilot query METRIC --since 15m\``);
}

/** One group: its labels, min/avg/max/last of its points, a sparkline, and the newest points. */
function renderSeries(labels: Record<string, string>, points: [number, number | null][], stepMs: number): string {
  const values = points.map(([, v]) => v).filter((v): v is number => v !== null);
  const name = formatLabels(labels) || "(all matching series)";
  if (values.length === 0) return `${name}\n  no points`;
  const avg = values.reduce((a, b) => a + b, 0) / values.length;
  const summary = `points ${values.length}/${points.length}  min ${num(Math.min(...values))}  avg ${num(avg)}  max ${num(Math.max(...values))}  last ${num(values[values.length - 1]!)}`;
  const shown = points.slice(-TABLE_ROWS);
  const table = renderTable(
    ["TIME", "VALUE"],
    shown.map(([ts, v]) => [iso(ts, stepMs % 1000 !== 0), v === null ? "-" : num(v)]),
  );
  const earlier = points.length - shown.length;
  const lines = [name, `  ${summary}`, `  ${sparkline(points.map(([, v]) => v))}`, ...table.split("\n").map((l) => `  ${l}`)];
  if (earlier > 0) lines.push(`  (${earlier} earlier point(s); --json prints them all)`);
  return lines.join("\n");
}

/** Values as block characters scaled between their min and max (a gap is a space), at most {@link SPARK_WIDTH} wide. */
export function sparkline(values: (number | null)[]): string {
  const width = Math.min(values.length, SPARK_WIDTH);
  // Wider than the terminal budget: average the values falling in each column.
  const columns: (number | null)[] = [];
  for (let c = 0; c < width; c++) {
    const slice = values.slice(Math.floor((c * values.length) / width), Math.floor(((c + 1) * values.length) / width)).filter((v): v is number => v !== null);
    columns.push(slice.length ? slice.reduce((a, b) => a + b, 0) / slice.length : null);
  }
  const present = columns.filter((v): v is number => v !== null);
  const lo = Math.min(...present);
  const hi = Math.max(...present);
  return columns
    .map((v) => (v === null ? " " : SPARK[hi === lo ? 3 : Math.round(((v - lo) / (hi - lo)) * (SPARK.length - 1))]))
    .join("");
}





/** A value with up to 6 significant digits: 0.333333, 1234.57, 12. */
function num(v: number): string {
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
}
