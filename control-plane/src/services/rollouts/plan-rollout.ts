import { sql } from "drizzle-orm";
import { canaryStrata, formatWave, parseSelector, waveCut, waveOf, type RolloutPreview, type Stratum, type Wave } from "@probepilot/shared";
import type { DbOrTx } from "../../db/client.ts";
import { selectorToSql } from "../../db/selector-sql.ts";

export type MatchingAgent = Stratum & { id: string };

/**
 * Agents of a tenant the selector matches now, online or not (an offline agent gets its
 * stage when it reconnects); revoked agents are gone and never part of a rollout.
 */
export async function matchingAgents(db: DbOrTx, tenantId: string, selector: string): Promise<MatchingAgent[]> {
  const where = selectorToSql(parseSelector(selector), sql`labels`);
  const rows = await db.execute<MatchingAgent>(sql`select id, kernel, arch, os from agents where tenant_id = ${tenantId} and revoked_at is null and ${where} order by id`);
  return [...rows];
}

export type RolloutPlan = {
  cuts: number[];
  canary: RolloutPreview["canary"];
  waves: RolloutPreview["waves"];
  /** Wave of each matching agent (agents beyond the last cut are absent). */
  waveOfAgent: Map<string, number>;
};

/**
 * The waves of a rollout over the agents matching now: each wave's cut (fixed
 * from here on, so the preview is what happens), the canary's strata, and how many
 * agents each wave admits. The same function serves the preview and the creation.
 */
export function planRollout(rolloutId: string, waves: Wave[], matching: MatchingAgent[]): RolloutPlan {
  const ids = matching.map((a) => a.id);
  const cuts: number[] = [];
  for (const wave of waves) cuts.push(waveCut(wave, rolloutId, ids, cuts.at(-1) ?? 0));
  const canary = canaryStrata(rolloutId, matching, cuts[0]!);
  const explicit = canary.filter((c) => !c.byHash).map((c) => c.agentId);
  const waveOfAgent = new Map<string, number>();
  const counts = cuts.map(() => 0);
  for (const id of ids) {
    const w = waveOf(id, rolloutId, cuts, explicit);
    if (w < 0) continue;
    waveOfAgent.set(id, w);
    counts[w]!++;
  }
  let cumulative = 0;
  return {
    cuts,
    canary,
    waveOfAgent,
    waves: waves.map((wave, index) => ({ index, target: formatWave(wave), cutBasisPoints: cuts[index]!, count: counts[index]!, cumulative: (cumulative += counts[index]!) })),
  };
}
