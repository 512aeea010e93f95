import { sql, type SQL } from "drizzle-orm";
import { AGGREGATIONS, parseSelector, type Aggregation } from "@probepilot/shared";
import type { Db } from "../../db/client.ts";
import { samples1h, samples1m } from "../../db/schema.ts";
import { selectorToSql } from "../../db/selector-sql.ts";
import { ServiceError } from "../errors.ts";

export { AGGREGATIONS, type Aggregation };

/**
 * The series of a metric that the selectors pick, as WHERE conditions over `series s`,
 * with the join of `agents a` they need (an agent selector, or `withAgent` for callers
 * that read agent labels themselves, e.g. to group by them).
 */
export function seriesFilters(
  tenantId: string,
  q: { metric: string; seriesSelector?: string | undefined; agentSelector?: string | undefined },
  withAgent = false,
): { filters: SQL[]; agentJoin: SQL } {
  const filters: SQL[] = [sql`s.tenant_id = ${tenantId}`, sql`s.metric = ${q.metric}`];
  if (q.seriesSelector) filters.push(selectorToSql(parseSelector(q.seriesSelector), sql`s.labels`));
  if (q.agentSelector) filters.push(selectorToSql(parseSelector(q.agentSelector), sql`a.labels`));
  const agentJoin = withAgent || q.agentSelector !== undefined ? sql`join agents a on a.id = s.agent_id and a.tenant_id = ${tenantId}` : sql``;
  return { filters, agentJoin };
}
export type Tier = "raw" | "1m" | "1h";

/** Most buckets one query may return per series: 1 h at 1 s step (3,600) fits three times over. */
export const MAX_POINTS_PER_SERIES = 11_000;
/** Most series (groups) one query may return, and the default `limitSeries`. */
export const MAX_SERIES = 500;
/** Most group-by keys. */
export const MAX_GROUP_BY_KEYS = 10;

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
/** The bucket width of each rollup tier. */
const TIER_BUCKET_MS = { "1m": MINUTE_MS, "1h": HOUR_MS } as const;
/** How far before the range `rate` looks for each raw series' previous sample (at least one step). */
const RATE_LOOKBACK_MS = MINUTE_MS;

export type QueryRangeInput = {
  metric: string;
  /** Selector over the labels of the agent that produced the series. */
  agentSelector?: string;
  /** Selector over the series' own labels. */
  seriesSelector?: string;
  /** Unix ms, inclusive (rounded down to the step). */
  from: number;
  /** Unix ms, exclusive. */
  to: number;
  stepMs: number;
  agg: Aggregation;
  /** Group-by label keys: each is looked up in the series' labels first, then in its agent's labels. */
  by?: string[];
  /** Fail if the query would return more series (groups) than this; at most {@link MAX_SERIES}. */
  limitSeries?: number;
};

export type RangePoint = [ts: number, value: number | null];
export type RangeSeries = { labels: Record<string, string>; points: RangePoint[] };
export type QueryRangeResult = {
  series: RangeSeries[];
  /** The tier the range was read from: a rollup tier may hand over to raw at `rawFrom`. */
  tier: Tier;
  stepMs: number;
  /** Where raw samples take over (Unix ms): the aligned start for tier "raw"; for a rollup tier, the end of what it has complete. */
  rawFrom: number;
};

/**
 * A range query over one metric: the series of the caller's tenant matching the
 * selectors, aggregated per step-aligned bucket (`ts - ts % stepMs`) and per
 * group of `by` label values. One SQL statement selects the series, checks the
 * group count and aggregates the samples; missing buckets are filled with null here.
 *
 * **Aggregation**, in two levels: per series and bucket (mean, min, max, sample
 * count, rate), then across the series of a group:
 * - `avg`: mean of the series' means (every series weighs the same, whatever its sample rate);
 * - `min` / `max`: of all samples;
 * - `sum`: sum of the series' means (a fleet total of a gauge);
 * - `count`: number of samples;
 * - `rate`: per-second increase of a counter, summed across the group. Per series,
 *   each sample's increase is its delta from the previous sample (which may lie up to
 *   max(step, 1 min) before the range); a negative delta is a counter reset and the
 *   new value is the increase. A bucket's rate is Σ increase / Σ elapsed time of the
 *   samples in it (elapsed since each one's previous sample), so a gap does not show
 *   as a spike, a partial last bucket (`to` = now) is not diluted, and a step finer
 *   than the sample interval still gives the true rate. A series' first sample
 *   with no previous one within the lookback contributes nothing.
 *
 * **Group-by keys** resolve to the series label when the series has it, else to the
 * agent label (so `by: ["mode"]` groups by a series label, `by: ["env"]` by an agent
 * label); a key absent from both groups as "absent" and is left out of `labels`.
 * Groups without a sample in the range are not returned.
 *
 * **Tier.** The step picks the tier: raw below 60 s, `1m` from 60 s, `1h` from 1 h,
 * and a rollup tier only when the step is a whole multiple of it (a 90 s step cannot
 * be built from minutes; it reads raw). A rollup tier is complete only up to its
 * watermark (`rollup_state`) and, for late data, not in minutes waiting in
 * `rollup_dirty`; the range is split at the earliest of those, rounded down to the
 * step: the tier answers `[from, rawFrom)` and raw samples `[rawFrom, to)`, so no
 * bucket mixes the two and recent data shows before the worker has rolled it up.
 * For `rate` the tier's per-bucket `last` values stand in for samples, one per
 * rollup bucket (a reset inside one rollup bucket is not seen there). Raw samples
 * are kept 2 days by default: a step below a minute over older data finds nothing.
 *
 * **Limits.** At most {@link MAX_POINTS_PER_SERIES} buckets per series and
 * `limitSeries` groups; the group count is checked inside the statement, before
 * any sample is read. The number of series aggregated into a group is not limited
 * (a fleet-wide average is one group).
 *
 * @throws {ServiceError} INVALID for a bad range or step, too many points per series
 * or too many groups, saying what to change.
 */
export async function queryRange(db: Db, tenantId: string, input: QueryRangeInput): Promise<QueryRangeResult> {
  const { from, to, stepMs, agg } = input;
  const by = [...new Set(input.by ?? [])];
  const limitSeries = input.limitSeries ?? MAX_SERIES;
  validate(input, by, limitSeries);

  const alignedFrom = from - (from % stepMs);
  const buckets = Math.ceil((to - alignedFrom) / stepMs);
  if (buckets > MAX_POINTS_PER_SERIES) {
    const minStep = Math.ceil((to - alignedFrom) / MAX_POINTS_PER_SERIES);
    throw new ServiceError(
      "INVALID",
      `${buckets} points per series (range ${to - from} ms at step ${stepMs} ms); the limit is ${MAX_POINTS_PER_SERIES}: use a step of at least ${minStep} ms or a shorter range`,
    );
  }

  const { tier, rawFrom } = await chooseTier(db, stepMs, alignedFrom, to);

  const { filters, agentJoin } = seriesFilters(tenantId, input, by.length > 0);
  const groupKey =
    by.length === 0 ? sql`'[]'::jsonb` : sql`jsonb_build_array(${sql.join(by.map((k) => sql`coalesce(s.labels ->> ${k}::text, a.labels ->> ${k}::text)`), sql`, `)})`;

  const step = sql`${stepMs}::bigint`;
  // The sample reads run only when the group count is within the limit (a one-time filter).
  // Series are matched with a join (or semi-join) on `sel`, never `= any(array(select id from sel))`:
  // the planner takes such an array for ~10 elements, and on 10,000 series it chose bitmap
  // scans whose lossy pages recheck every row against the whole array (a 24 h fleet query
  // over the 1m tier ran for minutes), and a filter on raw partitions searched it linearly.
  const ids = sql`in (select id from sel)`;
  const gate = sql`(select groups from gate) <= ${limitSeries}`;
  const tierTable = tier === "1h" ? samples1h : samples1m;
  const useTier = tier !== "raw";

  let perSeries: SQL;
  let groupAgg: SQL;
  if (agg === "rate") {
    // Deltas are taken within each source: rollup buckets (their `last`, one point
    // per bucket) among themselves, raw samples among themselves with a lookback
    // before `rawFrom` for the previous sample. Mixing them would pair a bucket's
    // start time with the value of its last sample and skew the boundary bucket.
    const lookback = Math.max(stepMs, RATE_LOOKBACK_MS);
    const tierDeltas = useTier
      ? sql`select series_id, ts, v, v - lag(v) over w as dv, ts - lag(ts) over w as dt
            from (select r.series_id, r.bucket as ts, r.last as v from ${tierTable} r
                  where r.series_id ${ids} and r.bucket >= ${alignedFrom - stepMs}::bigint and r.bucket < ${rawFrom}::bigint and ${gate}) t
            window w as (partition by series_id order by ts)
            union all `
      : sql``;
    perSeries = sql`
      deltas as (
        ${tierDeltas}
        select * from (
          select series_id, ts, v, v - lag(v) over w as dv, ts - lag(ts) over w as dt
          from (select x.series_id, x.ts, x.value as v from samples x
                where x.series_id ${ids} and x.ts >= ${rawFrom - lookback}::bigint and x.ts < ${to}::bigint and ${gate}) x
          window w as (partition by series_id order by ts)
        ) raw_deltas where ts >= ${rawFrom}::bigint
      ),
      per_series as (
        select sel.g, d.ts - d.ts % ${step} as b,
               sum(case when d.dv < 0 then d.v else d.dv end) as inc, sum(d.dt)::float8 as dt
        from deltas d join sel on sel.id = d.series_id
        where d.ts >= ${alignedFrom}::bigint and d.dt is not null
        group by d.series_id, sel.g, 2
      )`;
    groupAgg = sql`sum(p.inc * 1000 / p.dt) filter (where p.dt > 0)`;
  } else {
    // Each part carries its series' group (joined from `sel` here, not after the union:
    // joining 240,000 per-series rows back to `sel` cost a sort spilled to disk). When the
    // step is the tier's own bucket, a tier row already is one (series, bucket): no grouping.
    // The group key travels as the text of its jsonb array (hashing and comparing text is
    // cheaper than jsonb over 240,000 rows; it is turned back into jsonb per output row).
    const tierRange = sql`r.bucket >= ${alignedFrom}::bigint and r.bucket < ${rawFrom}::bigint and ${gate}`;
    const tierPart =
      tier === "raw"
        ? sql``
        : stepMs === TIER_BUCKET_MS[tier]
          ? sql`select sel.g, r.bucket as b, r.count::float8 as n, r.sum as s, r.min as mn, r.max as mx
                from ${tierTable} r join sel on sel.id = r.series_id
                where ${tierRange}
                union all `
          : sql`select sel.g, r.bucket - r.bucket % ${step} as b, sum(r.count)::float8 as n, sum(r.sum) as s, min(r.min) as mn, max(r.max) as mx
                from ${tierTable} r join sel on sel.id = r.series_id
                where ${tierRange}
                group by r.series_id, sel.g, 2
                union all `;
    // One row per (series, bucket): the split is step-aligned, so no bucket has rows from both parts.
    perSeries = sql`
      per_series as (
        ${tierPart}
        select sel.g, x.ts - x.ts % ${step} as b, count(*)::float8 as n, sum(x.value) as s, min(x.value) as mn, max(x.value) as mx
        from samples x join sel on sel.id = x.series_id
        where x.ts >= ${rawFrom}::bigint and x.ts < ${to}::bigint and ${gate}
        group by x.series_id, sel.g, 2
      )`;
    groupAgg = {
      avg: sql`avg(p.s / p.n)`,
      min: sql`min(p.mn)`,
      max: sql`max(p.mx)`,
      sum: sql`sum(p.s / p.n)`,
      count: sql`sum(p.n)`,
    }[agg];
  }

  const rows = await db.execute<{ groups: number; g: (string | null)[] | null; b: number | null; v: number | null }>(sql`
    with sel as (
      select s.id, (${groupKey})::text as g
      from series s ${agentJoin}
      where ${sql.join(filters, sql` and `)}
    ),
    gate as (select count(distinct g)::int as groups from sel),
    ${perSeries}
    select gate.groups, q.g, q.b, q.v
    from gate left join (
      select p.g::jsonb as g, p.b::float8 as b, (${groupAgg})::float8 as v
      from per_series p
      group by p.g, p.b
    ) q on true`);

  const groups = rows[0]?.groups ?? 0;
  if (groups > limitSeries) {
    throw new ServiceError(
      "INVALID",
      `"${input.metric}" gives ${groups} series${by.length ? ` grouped by ${by.join(",")}` : ""}; the limit is ${limitSeries}: narrow agentSelector or seriesSelector, group by fewer labels${limitSeries < MAX_SERIES ? `, or raise limitSeries (at most ${MAX_SERIES})` : ""}`,
    );
  }

  const byGroup = new Map<string, { g: (string | null)[]; values: (number | null)[] }>();
  for (const row of rows) {
    if (row.g === null || row.b === null) continue;
    const key = JSON.stringify(row.g);
    let entry = byGroup.get(key);
    if (!entry) byGroup.set(key, (entry = { g: row.g, values: new Array<number | null>(buckets).fill(null) }));
    entry.values[(row.b - alignedFrom) / stepMs] = row.v;
  }
  const series = [...byGroup.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, { g, values }]) => {
      const labels: Record<string, string> = {};
      by.forEach((k, i) => {
        if (g[i] !== null && g[i] !== undefined) labels[k] = g[i];
      });
      return { labels, points: values.map((v, i): RangePoint => [alignedFrom + i * stepMs, v]) };
    });
  return { series, tier, stepMs, rawFrom };
}

function validate(input: QueryRangeInput, by: string[], limitSeries: number): void {
  const { from, to, stepMs } = input;
  if (!Number.isSafeInteger(stepMs) || stepMs < 1) throw new ServiceError("INVALID", `stepMs ${stepMs}: expected a whole number of milliseconds ≥ 1`);
  if (!Number.isSafeInteger(from) || from < 0) throw new ServiceError("INVALID", `from ${from}: expected Unix milliseconds (a whole number ≥ 0)`);
  if (!Number.isSafeInteger(to) || to < 0) throw new ServiceError("INVALID", `to ${to}: expected Unix milliseconds (a whole number ≥ 0)`);
  if (to <= from) throw new ServiceError("INVALID", `the range is empty: to (${to}) must be after from (${from})`);
  if (!(AGGREGATIONS as readonly string[]).includes(input.agg)) throw new ServiceError("INVALID", `agg "${input.agg}": expected one of ${AGGREGATIONS.join(", ")}`);
  if (by.length > MAX_GROUP_BY_KEYS) throw new ServiceError("INVALID", `by has ${by.length} keys; group by at most ${MAX_GROUP_BY_KEYS}`);
  if (!Number.isSafeInteger(limitSeries) || limitSeries < 1 || limitSeries > MAX_SERIES) {
    throw new ServiceError("INVALID", `limitSeries ${limitSeries}: expected a whole number from 1 to ${MAX_SERIES}`);
  }
}

/** The rollup tier a step can be built from (a whole multiple of the tier's bucket), or raw. */
function tierForStep(stepMs: number): Tier {
  if (stepMs >= HOUR_MS && stepMs % HOUR_MS === 0) return "1h";
  if (stepMs >= MINUTE_MS && stepMs % MINUTE_MS === 0) return "1m";
  return "raw";
}

/**
 * The tier for the step and where raw samples take over: the tier's watermark or
 * the earliest minute waiting for recomputation in the range, whichever is first,
 * rounded down to the step and kept within the range. When that leaves the tier
 * nothing (no watermark yet, or the range is all after it), the query is raw.
 */
async function chooseTier(db: Db, stepMs: number, alignedFrom: number, to: number): Promise<{ tier: Tier; rawFrom: number }> {
  const tier = tierForStep(stepMs);
  if (tier === "raw") return { tier, rawFrom: alignedFrom };
  const [state] = await db.execute<{ watermark: number | null; dirty: number | null }>(sql`
    select (select watermark from rollup_state where tier = ${tier})::float8 as watermark,
           (select min(bucket) from rollup_dirty where bucket >= ${alignedFrom}::bigint and bucket < ${to}::bigint)::float8 as dirty`);
  if (state?.watermark === null || state?.watermark === undefined) return { tier: "raw", rawFrom: alignedFrom };
  const complete = Math.min(state.watermark, state.dirty ?? Infinity);
  const split = Math.min(complete - (complete % stepMs), to - (to % stepMs));
  return split > alignedFrom ? { tier, rawFrom: split } : { tier: "raw", rawFrom: alignedFrom };
}
