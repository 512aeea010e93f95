import { sql } from "drizzle-orm";
import { estimatePercentile } from "@probepilot/shared";

export { estimatePercentile };
import type { Db } from "../../db/client.ts";
import { ServiceError } from "../errors.ts";
import { MAX_POINTS_PER_SERIES, seriesFilters } from "./query-range.ts";

/** The percentiles returned when none are asked for. */
export const DEFAULT_PERCENTILES = [50, 90, 99] as const;
/** Most percentiles one query may ask for. */
export const MAX_PERCENTILES = 10;
/** Most time buckets one query may return: the same bound as a range query's points per series. */
export const MAX_HISTOGRAM_STEPS = MAX_POINTS_PER_SERIES;

export type QueryHistogramInput = {
  metric: string;
  /** Selector over the labels of the agent that produced the histogram. */
  agentSelector?: string;
  /** Selector over the histogram series' own labels. */
  seriesSelector?: string;
  /** Unix ms, inclusive (rounded down to the step). */
  from: number;
  /** Unix ms, exclusive. */
  to: number;
  stepMs: number;
  /** Percentiles in [0, 100]; default {@link DEFAULT_PERCENTILES}. */
  percentiles?: number[];
};

/** One row of the heatmap: a log2 bucket and its merged count in every time bucket. */
export type HeatmapRow = {
  /** Log2 bucket index `i`: values in [`lower`, `upper`) = [2^i, 2^(i+1)). */
  bucket: number;
  lower: number;
  upper: number;
  /** Count per time bucket, aligned with `timestamps`. */
  counts: number[];
};

export type QueryHistogramResult = {
  stepMs: number;
  /** Start of every time bucket (Unix ms, multiples of `stepMs`); every other array is aligned with it. */
  timestamps: number[];
  /** Per requested percentile, its estimate per time bucket; null where the bucket holds no bucketed value. */
  percentiles: { p: number; values: (number | null)[] }[];
  /** Σ of the snapshots' `count` per time bucket (0 where there is none). */
  count: number[];
  /** Σ of the snapshots' `sum` per time bucket (0 where there is none). */
  sum: number[];
  /** Log2 buckets with a non-zero count somewhere in the range, ascending; absent buckets are all zero. */
  heatmap: HeatmapRow[];
  /** Number of histogram series that matched the metric and the selectors. */
  seriesMatched: number;
};

/**
 * Percentiles over time and a heatmap for one log2-bucketed histogram metric:
 * the histogram series of the caller's tenant named `metric` that match the
 * selectors, merged per step-aligned time bucket (`ts - ts % stepMs`, like
 * `telemetry.range`).
 *
 * **Assumption: snapshots are per-interval deltas.** Each one counts only what
 * happened since the previous snapshot of its series (a probe reads and resets its
 * histogram map every interval), so merging over time and across series is a plain
 * sum per bucket index. A snapshot belongs to the time bucket of its own timestamp
 * (`at`), i.e. to the end of the interval it covers. Cumulative snapshots would be
 * counted again at every step and need differencing first; this query does not do that.
 *
 * **Percentile estimate** (as Prometheus' `histogram_quantile`, on log2 bounds):
 * with merged counts `c[i]` for [2^i, 2^(i+1)) and `N = Σ c[i]`, the rank of
 * percentile `p` is `r = p · N / 100`. The estimate lies in the first bucket `i`
 * with `c[i] > 0` whose cumulative count `C(i) = c[0] + … + c[i]` reaches `r`,
 * linearly interpolated inside it as if its values were spread evenly:
 * `2^i + (2^(i+1) - 2^i) · (r - C(i-1)) / c[i]`. So p0 is the lower bound of the
 * lowest non-empty bucket, p100 the upper bound of the highest; the error is at most
 * the width of one bucket (a factor of 2). Values below 1 have no log2 bucket and
 * take no part; `count` and `sum` are the snapshots' own totals, which may include them.
 *
 * The series are selected in the same statement as their snapshots are read; their
 * number is not limited (a fleet-wide latency distribution is one merge).
 *
 * @throws {ServiceError} INVALID for a bad range, step or percentile, or too many time buckets, saying what to change.
 */
export async function queryHistogram(db: Db, tenantId: string, input: QueryHistogramInput): Promise<QueryHistogramResult> {
  const { from, to, stepMs } = input;
  const percentiles = [...new Set(input.percentiles ?? DEFAULT_PERCENTILES)];
  validate(input, percentiles);

  const alignedFrom = from - (from % stepMs);
  const steps = Math.ceil((to - alignedFrom) / stepMs);
  if (steps > MAX_HISTOGRAM_STEPS) {
    const minStep = Math.ceil((to - alignedFrom) / MAX_HISTOGRAM_STEPS);
    throw new ServiceError(
      "INVALID",
      `${steps} time buckets (range ${to - from} ms at step ${stepMs} ms); the limit is ${MAX_HISTOGRAM_STEPS}: use a step of at least ${minStep} ms or a shorter range`,
    );
  }

  const { filters, agentJoin } = seriesFilters(tenantId, input);
  filters.push(sql`s.kind = 'histogram'`);
  const step = sql`${stepMs}::bigint`;

  // Two kinds of rows: `idx` null carries a time bucket's count and sum; otherwise
  // the merged count of one log2 bucket in one time bucket (non-zero only). The
  // series count rides along on every row (and on one row of its own when nothing matched).
  const rows = await db.execute<{ matched: number; b: number | null; idx: number | null; n: number | null; s: number | null }>(sql`
    with sel as (
      select s.id from series s ${agentJoin}
      where ${sql.join(filters, sql` and `)}
    ),
    snap as materialized (
      select h.ts - h.ts % ${step} as b, h.buckets, h.count, h.sum
      from histogram_snapshots h
      where h.series_id = any(array(select id from sel)) and h.ts >= ${alignedFrom}::bigint and h.ts < ${to}::bigint
    ),
    cells as (
      select b, null::int as idx, sum(count)::float8 as n, sum(sum)::float8 as s from snap group by b
      union all
      select snap.b, (u.i - 1)::int, sum(u.c)::float8, null from snap, unnest(snap.buckets) with ordinality as u(c, i)
      where u.c > 0
      group by 1, 2
    )
    select m.matched, cells.b::float8 as b, cells.idx, cells.n, cells.s
    from (select count(*)::int as matched from sel) m left join cells on true`);

  const timestamps = Array.from({ length: steps }, (_, i) => alignedFrom + i * stepMs);
  const count = new Array<number>(steps).fill(0);
  const sum = new Array<number>(steps).fill(0);
  /** bucket index → counts per time bucket. */
  const heat = new Map<number, number[]>();
  for (const row of rows) {
    if (row.b === null) continue;
    const t = (row.b - alignedFrom) / stepMs;
    if (row.idx === null) {
      count[t] = row.n ?? 0;
      sum[t] = row.s ?? 0;
    } else {
      let counts = heat.get(row.idx);
      if (!counts) heat.set(row.idx, (counts = new Array<number>(steps).fill(0)));
      counts[t] = row.n ?? 0;
    }
  }
  const heatmap: HeatmapRow[] = [...heat.entries()]
    .sort(([a], [b]) => a - b)
    .map(([bucket, counts]) => ({ bucket, lower: 2 ** bucket, upper: 2 ** (bucket + 1), counts }));

  const values = percentiles.map(() => new Array<number | null>(steps).fill(null));
  const merged = new Array<number>(heatmap.length === 0 ? 0 : heatmap[heatmap.length - 1]!.bucket + 1);
  for (let t = 0; t < steps; t++) {
    merged.fill(0);
    for (const row of heatmap) merged[row.bucket] = row.counts[t]!;
    percentiles.forEach((p, k) => (values[k]![t] = estimatePercentile(merged, p)));
  }

  return {
    stepMs,
    timestamps,
    percentiles: percentiles.map((p, k) => ({ p, values: values[k]! })),
    count,
    sum,
    heatmap,
    seriesMatched: rows[0]?.matched ?? 0,
  };
}


function validate(input: QueryHistogramInput, percentiles: number[]): void {
  const { from, to, stepMs } = input;
  if (!Number.isSafeInteger(stepMs) || stepMs < 1) throw new ServiceError("INVALID", `stepMs ${stepMs}: expected a whole number of milliseconds ≥ 1`);
  if (!Number.isSafeInteger(from) || from < 0) throw new ServiceError("INVALID", `from ${from}: expected Unix milliseconds (a whole number ≥ 0)`);
  if (!Number.isSafeInteger(to) || to < 0) throw new ServiceError("INVALID", `to ${to}: expected Unix milliseconds (a whole number ≥ 0)`);
  if (to <= from) throw new ServiceError("INVALID", `the range is empty: to (${to}) must be after from (${from})`);
  if (percentiles.length === 0) throw new ServiceError("INVALID", "percentiles is empty: ask for at least one, e.g. [50, 90, 99]");
  if (percentiles.length > MAX_PERCENTILES) throw new ServiceError("INVALID", `${percentiles.length} percentiles; ask for at most ${MAX_PERCENTILES}`);
  for (const p of percentiles) {
    if (!Number.isFinite(p) || p < 0 || p > 100) throw new ServiceError("INVALID", `percentile ${p}: expected a number from 0 to 100 (99.9 for p99.9)`);
  }
}
