import { and, eq, sql } from "drizzle-orm";
import { FULL_CUT_BASIS_POINTS, parseSelector, type ProbeStatus } from "@probepilot/shared";
import type { Db, DbOrTx } from "../../../db/client.ts";
import { rolloutAgents, rollouts, type RolloutRow } from "../../../db/schema.ts";
import { selectorToSql } from "../../../db/selector-sql.ts";
import { recordAudit } from "../../audit/record-audit.ts";
import type { AgentObservation, AgentRow, Evaluation, RolloutMachine } from "./evaluate-rollout.ts";

/** The actor the engine's own transitions carry in the audit trail. */
export const ENGINE_ACTOR = "engine";

/** A rollout row as the state machine sees it. */
export function toMachine(row: RolloutRow): RolloutMachine {
  return {
    id: row.id,
    state: row.state,
    stateReason: row.stateReason,
    strategy: row.strategy,
    currentWave: row.currentWave,
    phase: row.phase,
    cuts: row.cuts,
    canaryIds: row.canary.filter((c) => !c.byHash).map((c) => c.agentId),
    waveTimes: row.waveTimes,
    gateDeadline: row.gateDeadline?.getTime() ?? null,
    bakeEndsAt: row.bakeEndsAt?.getTime() ?? null,
    createdAt: row.createdAt.getTime(),
    completedAt: row.completedAt?.getTime() ?? null,
    health: row.health,
  };
}

/** The columns a moved state machine writes back. */
export function machineColumns(m: RolloutMachine) {
  return {
    state: m.state,
    stateReason: m.stateReason,
    currentWave: m.currentWave,
    phase: m.phase,
    waveTimes: m.waveTimes,
    gateDeadline: m.gateDeadline === null ? null : new Date(m.gateDeadline),
    bakeEndsAt: m.bakeEndsAt === null ? null : new Date(m.bakeEndsAt),
    completedAt: m.completedAt === null ? null : new Date(m.completedAt),
    health: m.health,
  };
}

/**
 * What the agents report, as it concerns one rollout: every agent the selector
 * matches now, and every agent already in the rollout (whose labels may have
 * changed). Only the probe status of this rollout's policy is read out of each
 * agent's report, in SQL, so 10,000 agents are one compact result. With
 * `reportedSince`, only the agents whose status was written since then (the
 * `(tenant_id, last_seen_at)` index finds them).
 */
export async function loadObservations(db: Db, row: RolloutRow, reportedSince?: Date): Promise<Map<string, AgentObservation>> {
  const matches = selectorToSql(parseSelector(row.selector), sql`a.labels`);
  const result = await db.execute<{ id: string; online: boolean; matches: boolean; revoked: boolean; first_seen: number; probe: ProbeStatus | null }>(sql`
    select a.id, a.status = 'online' as online, (${matches}) as matches, a.revoked_at is not null as revoked,
      (extract(epoch from a.first_seen_at) * 1000)::float8 as first_seen,
      (select p from jsonb_array_elements(a.probes) p where p ->> 'policyId' = ${row.policyId} limit 1) as probe
    from agents a
    where a.tenant_id = ${row.tenantId}
      ${reportedSince ? sql`and a.last_seen_at >= ${reportedSince.toISOString()}::timestamptz` : sql``}
      and ((${matches}) or exists (select 1 from rollout_agents ra where ra.rollout_id = ${row.id} and ra.agent_id = a.id))`);
  const out = new Map<string, AgentObservation>();
  for (const r of result) {
    out.set(r.id, { id: r.id, online: r.online, matches: r.matches, revoked: r.revoked, firstSeenAt: Number(r.first_seen), probe: r.probe ? { state: r.probe.state, error: r.probe.error, reason: r.probe.reason, cost: r.probe.cost } : null });
  }
  return out;
}

export async function loadAgentRows(db: Db, rolloutId: string): Promise<Map<string, AgentRow>> {
  const rows = await db
    .select({ agentId: rolloutAgents.agentId, wave: rolloutAgents.wave, state: rolloutAgents.state, membership: rolloutAgents.membership, error: rolloutAgents.error })
    .from(rolloutAgents)
    .where(eq(rolloutAgents.rolloutId, rolloutId));
  return new Map(rows.map((r) => [r.agentId, r]));
}

/** Upsert rows and append their transitions, one statement each whatever their number. */
export async function writeAgentRows(tx: DbOrTx, row: Pick<RolloutRow, "id" | "tenantId">, changes: Evaluation["rows"]): Promise<void> {
  if (changes.length === 0) return;
  const json = JSON.stringify(changes.map((c) => ({ agent_id: c.agentId, wave: c.wave, state: c.state, membership: c.membership, error: c.error, from_state: c.from })));
  await tx.execute(sql`
    insert into rollout_agents (rollout_id, agent_id, tenant_id, wave, state, membership, error, updated_at)
    select ${row.id}, r.agent_id, ${row.tenantId}, r.wave, r.state, r.membership, r.error, now()
    from jsonb_to_recordset(${json}::jsonb) as r(agent_id text, wave int, state text, membership text, error text)
    on conflict (rollout_id, agent_id) do update
      set wave = excluded.wave, state = excluded.state, membership = excluded.membership, error = excluded.error, updated_at = now()`);
  await tx.execute(sql`
    insert into rollout_agent_transitions (rollout_id, agent_id, wave, from_state, to_state, error)
    select ${row.id}, r.agent_id, r.wave, r.from_state, r.state, r.error
    from jsonb_to_recordset(${json}::jsonb) as r(agent_id text, wave int, state text, error text, from_state text)
    where r.from_state is distinct from r.state`);
}

/**
 * Write one engine step in one transaction: the rollout (only if nobody else
 * wrote it since it was read: an operator's action wins, and the engine
 * re-evaluates), its rows, its audit entries; and, when it completed, retire the
 * policies of earlier completed rollouts of the same kind and selector. Returns
 * false when the rollout had moved under it (nothing written).
 */
export async function writeEvaluation(db: Db, row: RolloutRow, evaluation: Evaluation): Promise<boolean> {
  return db.transaction(async (tx) => {
    if (evaluation.changed || evaluation.stageChanged) {
      const updated = await tx
        .update(rollouts)
        .set({
          ...machineColumns(evaluation.next),
          revision: sql`${rollouts.revision} + 1`,
          stageVersion: evaluation.stageChanged ? sql`${rollouts.stageVersion} + 1` : rollouts.stageVersion,
          updatedAt: new Date(),
        })
        .where(and(eq(rollouts.id, row.id), eq(rollouts.revision, row.revision)))
        .returning({ id: rollouts.id });
      if (updated.length === 0) return false;
    }
    await writeAgentRows(tx, row, evaluation.rows);
    for (const e of evaluation.events) await recordAudit(tx, { tenantId: row.tenantId, actor: ENGINE_ACTOR }, e.action, row.id, e.details);
    // Only a rollout that reached every matching agent replaces the earlier ones.
    if (evaluation.next.state === "completed" && row.state !== "completed" && row.cuts.at(-1) === FULL_CUT_BASIS_POINTS) await retireSuperseded(tx, row);
    return true;
  });
}

/**
 * A rollout that completed over the same selector as an earlier completed one of
 * its kind replaces it everywhere: the earlier policy is removed (agents would
 * otherwise report the pair as a conflict forever). Rolling this rollout back
 * brings them back (see rollbackRollout).
 */
async function retireSuperseded(tx: DbOrTx, row: RolloutRow): Promise<void> {
  const retired = await tx
    .update(rollouts)
    .set({ supersededBy: row.id, stageVersion: sql`${rollouts.stageVersion} + 1`, revision: sql`${rollouts.revision} + 1`, updatedAt: new Date() })
    .where(
      and(
        eq(rollouts.tenantId, row.tenantId),
        eq(rollouts.kind, row.kind),
        eq(rollouts.selector, row.selector),
        sql`${rollouts.state} in ('completed', 'aborted')`,
        sql`${rollouts.supersededBy} is null`,
        sql`${rollouts.id} <> ${row.id}`,
      ),
    )
    .returning({ id: rollouts.id });
  for (const r of retired) await recordAudit(tx, { tenantId: row.tenantId, actor: ENGINE_ACTOR }, "rollout.superseded", r.id, { by: row.id });
}
