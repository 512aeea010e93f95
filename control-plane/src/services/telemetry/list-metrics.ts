import { sql, type SQL } from "drizzle-orm";
import { parseSelector } from "@probepilot/shared";
import type { Db } from "../../db/client.ts";
import { selectorToSql } from "../../db/selector-sql.ts";

export type ListMetricsInput = {
  /** Only series of agents matching this selector. */
  agentSelector?: string;
  /** Only metrics whose name starts with this. */
  prefix?: string;
};

export type MetricInfo = {
  metric: string;
  kind: string;
  unit: string | null;
  /** Every label key the metric's series carry (sorted); values are for the range query to group by. */
  labelKeys: string[];
  /** Number of series. */
  series: number;
  /** Number of agents reporting it. */
  agents: number;
};

/**
 * The metric catalog of the caller's tenant, for pickers: one entry per metric
 * (and kind and unit, should agents disagree on those), with the label keys of
 * its series and how many series and agents carry it, sorted by name. Reads the
 * series registry only, never samples.
 */
export async function listMetrics(db: Db, tenantId: string, input: ListMetricsInput = {}): Promise<MetricInfo[]> {
  const filters: SQL[] = [sql`s.tenant_id = ${tenantId}`];
  // `left(...) = prefix` rather than LIKE: no escaping of `_` (common in metric names) needed.
  if (input.prefix) filters.push(sql`left(s.metric, ${input.prefix.length}) = ${input.prefix}`);
  if (input.agentSelector) {
    const selector = selectorToSql(parseSelector(input.agentSelector), sql`a.labels`);
    filters.push(sql`exists (select 1 from agents a where a.id = s.agent_id and a.tenant_id = ${tenantId} and ${selector})`);
  }
  const rows = await db.execute<{ metric: string; kind: string; unit: string | null; series: number; agents: number; label_keys: string[] }>(sql`
    select s.metric, s.kind, s.unit,
           count(distinct s.id)::int as series,
           count(distinct s.agent_id)::int as agents,
           coalesce(array_agg(distinct k.key order by k.key) filter (where k.key is not null), '{}') as label_keys
    from series s left join lateral jsonb_object_keys(s.labels) as k(key) on true
    where ${sql.join(filters, sql` and `)}
    group by s.metric, s.kind, s.unit
    order by s.metric, s.kind, s.unit nulls first`);
  return rows.map((r) => ({ metric: r.metric, kind: r.kind, unit: r.unit, labelKeys: r.label_keys, series: r.series, agents: r.agents }));
}
