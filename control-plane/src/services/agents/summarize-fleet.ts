import { sql } from "drizzle-orm";
import { AGENT_STATUSES } from "@probepilot/shared";
import type { DbOrTx } from "../../db/client.ts";

/** Kernels listed by count (the rest of the fleet is in `total`). */
export const TOP_KERNELS = 10;
/** Failures listed, newest first. */
export const RECENT_FAILURES = 20;

export type FleetFailure = {
  /** Unix ms: when the probe entered `failed` (agent clock) or the rollout recorded it. */
  at: number;
  agentId: string;
  hostname: string;
  /** Probe kind as the agent reports it, or the rollout's probe name. */
  probe: string;
  message: string;
  /** `probe`: the agent reports the probe failed now; `rollout`: an agent failed a rollout's version. */
  source: "probe" | "rollout";
  rolloutId: string | null;
};

export type FleetSummary = {
  total: number;
  /** Agents per status; every status is present (0 when none). */
  byStatus: Record<string, number>;
  /** The {@link TOP_KERNELS} most common kernels, most common first. */
  byKernel: { kernel: string; count: number }[];
  /** Probes the online agents report: all of them, running (or verified), failed. */
  probes: { total: number; running: number; failed: number };
  /** The {@link RECENT_FAILURES} newest failures of probes on agents and of agents in rollouts. */
  recentFailures: FleetFailure[];
};

/**
 * The fleet at a glance (Mission Control): counts by status and kernel, what the
 * probes of the online agents are doing (an offline agent's last report says
 * nothing about now), and the newest failures from two sources:
 * - probes the agents report `failed` now, with their error (any agent, online or not);
 * - agents that went `failed` in a rollout (`rollout_agent_transitions`), with the
 *   error the rollout recorded — these stay listed after a rollback removed the probe.
 * The same failure seen both ways (same agent, probe and message) is listed once,
 * as the rollout's (it says which rollout).
 *
 * Four queries, each one pass over the tenant's agents or an index range: the
 * fleet-wide ones read the agents rows once (10,000 agents in a few ms); failed
 * transitions are found through their partial index on time (newest first).
 */
export async function summarizeFleet(db: DbOrTx, tenantId: string): Promise<FleetSummary> {
  const [groups, probeCounts, probeFailures, rolloutFailures] = await Promise.all([
    db.execute<{ status: string; kernel: string; n: number }>(sql`
      select status, kernel, count(*)::int as n from agents where tenant_id = ${tenantId} group by status, kernel`),
    db.execute<{ total: number; running: number; failed: number }>(sql`
      select count(*)::int as total,
        count(*) filter (where p ->> 'state' in ('running', 'verified'))::int as running,
        count(*) filter (where p ->> 'state' = 'failed')::int as failed
      from agents a cross join lateral jsonb_array_elements(a.probes) p
      where a.tenant_id = ${tenantId} and a.status = 'online'`),
    db.execute<{ at: number; agent_id: string; hostname: string; probe: string; message: string; policy_id: string | null }>(sql`
      select coalesce((p ->> 'since')::float8, 0) as at, a.id as agent_id, a.hostname, p ->> 'kind' as probe,
        coalesce(nullif(p ->> 'error', ''), nullif(p ->> 'reason', ''), 'failed (the agent gave no error)') as message, p ->> 'policyId' as policy_id
      from agents a cross join lateral jsonb_array_elements(a.probes) p
      where a.tenant_id = ${tenantId} and a.probes @> '[{"state": "failed"}]'::jsonb and p ->> 'state' = 'failed'
      order by 1 desc limit ${RECENT_FAILURES}`),
    db.execute<{ at: number; agent_id: string; hostname: string | null; probe: string; kind: string; message: string | null; rollout_id: string }>(sql`
      select floor(extract(epoch from t.at) * 1000)::float8 as at, t.agent_id, a.hostname, r.probe_name as probe, r.kind, t.error as message, t.rollout_id
      from rollout_agent_transitions t
      join rollouts r on r.id = t.rollout_id and r.tenant_id = ${tenantId}
      left join agents a on a.id = t.agent_id and a.tenant_id = ${tenantId}
      where t.to_state = 'failed'
      order by t.at desc limit ${RECENT_FAILURES}`),
  ]);

  const byStatus: Record<string, number> = Object.fromEntries(AGENT_STATUSES.map((s) => [s, 0]));
  const kernels = new Map<string, number>();
  let total = 0;
  for (const g of groups) {
    total += g.n;
    byStatus[g.status] = (byStatus[g.status] ?? 0) + g.n;
    kernels.set(g.kernel, (kernels.get(g.kernel) ?? 0) + g.n);
  }
  const byKernel = [...kernels]
    .map(([kernel, count]) => ({ kernel, count }))
    .sort((a, b) => b.count - a.count || a.kernel.localeCompare(b.kernel))
    .slice(0, TOP_KERNELS);

  const fromRollouts: FleetFailure[] = rolloutFailures.map((f) => ({
    at: Number(f.at),
    agentId: f.agent_id,
    hostname: f.hostname ?? "",
    probe: f.probe,
    message: f.message ?? "failed (no error recorded)",
    source: "rollout",
    rolloutId: f.rollout_id,
  }));
  // A rollout's failure is the probe's own error as the agent reported it: same agent and message, same failure.
  const known = new Set(rolloutFailures.map((f) => `${f.agent_id}\u0000${f.kind}\u0000${f.message ?? ""}`));
  const fromProbes: FleetFailure[] = probeFailures
    .filter((f) => !known.has(`${f.agent_id}\u0000${f.probe}\u0000${f.message}`))
    .map((f) => ({ at: Number(f.at), agentId: f.agent_id, hostname: f.hostname, probe: f.probe, message: f.message, source: "probe", rolloutId: null }));
  const recentFailures = [...fromRollouts, ...fromProbes].sort((a, b) => b.at - a.at).slice(0, RECENT_FAILURES);

  return { total, byStatus, byKernel, probes: probeCounts[0] ?? { total: 0, running: 0, failed: 0 }, recentFailures };
}
