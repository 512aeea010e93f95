import type postgres from "postgres";
import type { MetricSeries } from "@probepilot/shared";

/** Canonical text of a label set: sorted `k=v` joined by `,` (part of a series' identity). */
export function labelsKey(labels: Record<string, string>): string {
  const keys = Object.keys(labels).sort();
  let out = "";
  for (const k of keys) out += (out ? "," : "") + k + "=" + labels[k];
  return out;
}

/** What identifies a series, plus what is stored with it (`kind`: gauge, counter or histogram). */
export type SeriesRef = { tenantId: string; agentId: string; probe: string; series: Pick<MetricSeries, "metric" | "unit" | "labels"> & { kind: string } };

/**
 * Series ids by identity (tenant, agent, probe, metric, label set), cached in
 * memory. Misses are created in one statement per batch (`insert … on conflict do
 * nothing`, then a select), outside the ingest transaction: creating a series is
 * idempotent, and a cached id must never come from a rolled-back insert.
 */
export class SeriesRegistry {
  private readonly ids = new Map<string, number>();

  constructor(
    private readonly sql: postgres.Sql,
    private readonly maxCached = 1_000_000,
  ) {}

  get size(): number {
    return this.ids.size;
  }

  static key(ref: SeriesRef): string {
    return `${ref.tenantId}\u0001${ref.agentId}\u0001${ref.probe}\u0001${ref.series.metric}\u0001${labelsKey(ref.series.labels)}`;
  }

  /** Ids for `refs`, in order. */
  async resolve(refs: SeriesRef[]): Promise<number[]> {
    const keys = refs.map(SeriesRegistry.key);
    const missing = new Map<string, SeriesRef>();
    keys.forEach((k, i) => {
      if (!this.ids.has(k) && !missing.has(k)) missing.set(k, refs[i]!);
    });
    if (missing.size > 0) await this.load([...missing.values()]);
    return keys.map((k) => {
      const id = this.ids.get(k);
      if (id === undefined) throw new Error(`series ${k.replaceAll("\u0001", "/")} was neither created nor found`);
      return id;
    });
  }

  private async load(refs: SeriesRef[]): Promise<void> {
    const cols = {
      tenant: refs.map((r) => r.tenantId),
      agent: refs.map((r) => r.agentId),
      probe: refs.map((r) => r.probe),
      metric: refs.map((r) => r.series.metric),
      kind: refs.map((r) => r.series.kind),
      unit: refs.map((r) => r.series.unit ?? null),
      labels: refs.map((r) => JSON.stringify(r.series.labels)),
      key: refs.map((r) => labelsKey(r.series.labels)),
    };
    await this.sql`
      insert into series (tenant_id, agent_id, probe, metric, kind, unit, labels, labels_key)
      select t, a, p, m, k, u, l::jsonb, lk from unnest(
        ${cols.tenant}::text[], ${cols.agent}::text[], ${cols.probe}::text[], ${cols.metric}::text[],
        ${cols.kind}::text[], ${cols.unit}::text[], ${cols.labels}::text[], ${cols.key}::text[]
      ) as x(t, a, p, m, k, u, l, lk)
      on conflict (tenant_id, agent_id, probe, metric, labels_key) do nothing`;
    const rows = await this.sql<{ id: string; tenant_id: string; agent_id: string; probe: string; metric: string; labels_key: string }[]>`
      select s.id, s.tenant_id, s.agent_id, s.probe, s.metric, s.labels_key from series s
      join unnest(${cols.tenant}::text[], ${cols.agent}::text[], ${cols.probe}::text[], ${cols.metric}::text[], ${cols.key}::text[]) as x(t, a, p, m, lk)
        on s.tenant_id = x.t and s.agent_id = x.a and s.probe = x.p and s.metric = x.m and s.labels_key = x.lk`;
    if (this.ids.size + rows.length > this.maxCached) this.ids.clear(); // crude bound: refill on demand
    for (const r of rows) this.ids.set(`${r.tenant_id}\u0001${r.agent_id}\u0001${r.probe}\u0001${r.metric}\u0001${r.labels_key}`, Number(r.id));
  }
}
