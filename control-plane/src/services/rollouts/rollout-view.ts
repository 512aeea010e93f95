import { sql } from "drizzle-orm";
import { ROLLOUT_MEMBERSHIPS, emptyAgentCounts, formatWave, type RolloutAgentState, type RolloutMembership, type RolloutView } from "@probepilot/shared";
import type { DbOrTx } from "../../db/client.ts";
import type { RolloutRow } from "../../db/schema.ts";

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/**
 * A rollout as clients see it: its row plus per-wave counts by state, membership
 * counts, offline members and the latest failures, in two queries.
 */
export async function toRolloutView(db: DbOrTx, row: RolloutRow): Promise<RolloutView> {
  const [groups, failures] = await Promise.all([
    db.execute<{ wave: number; state: RolloutAgentState; membership: RolloutMembership; offline: boolean; n: number }>(sql`
      select ra.wave, ra.state, ra.membership, coalesce(a.status <> 'online', true) as offline, count(*)::int as n
      from rollout_agents ra left join agents a on a.id = ra.agent_id
      where ra.rollout_id = ${row.id}
      group by 1, 2, 3, 4`),
    db.execute<{ agent_id: string; hostname: string | null; error: string | null; at: Date | string }>(sql`
      select ra.agent_id, a.hostname, ra.error, ra.updated_at as at
      from rollout_agents ra left join agents a on a.id = ra.agent_id
      where ra.rollout_id = ${row.id} and ra.error is not null and ra.state in ('failed', 'rolled_back')
      order by ra.updated_at desc limit 5`),
  ]);
  const waves = row.strategy.waves.map((wave, index) => ({
    index,
    target: formatWave(wave),
    cutBasisPoints: row.cuts[index] ?? null,
    planned: 0,
    counts: emptyAgentCounts(),
    startedAt: row.waveTimes[index]?.startedAt ?? null,
    completedAt: row.waveTimes[index]?.completedAt ?? null,
  }));
  const totals = emptyAgentCounts();
  const membership = Object.fromEntries(ROLLOUT_MEMBERSHIPS.map((m) => [m, 0])) as Record<RolloutMembership, number>;
  let matching = 0;
  let offline = 0;
  for (const g of groups) {
    const wave = waves[g.wave];
    membership[g.membership] += g.n;
    if (g.membership === "relabeled_out" || g.membership === "revoked") continue;
    matching += g.n;
    totals[g.state] += g.n;
    if (wave) {
      wave.counts[g.state] += g.n;
      wave.planned += g.n;
    }
    if (g.offline && g.wave <= row.currentWave) offline += g.n;
  }
  return {
    id: row.id,
    probe: { id: row.probeId, name: row.probeName, kind: row.kind, version: row.version, specHash: row.specHash },
    selector: row.selector,
    strategy: row.strategy,
    state: row.state,
    stateReason: row.stateReason,
    currentWave: row.currentWave,
    phase: row.phase,
    gateDeadline: iso(row.gateDeadline),
    bakeEndsAt: iso(row.bakeEndsAt),
    policyId: row.policyId,
    canary: row.canary,
    waves,
    totals,
    matching,
    offline,
    membership,
    health: row.health ?? { members: 0, healthyPercent: 0, failedPercent: 0, meanProbeCpuPercent: null },
    recentFailures: failures.map((f) => ({ agentId: f.agent_id, hostname: f.hostname ?? "", error: f.error ?? "", at: new Date(f.at).toISOString() })),
    createdBy: row.createdBy,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    completedAt: iso(row.completedAt),
  };
}
