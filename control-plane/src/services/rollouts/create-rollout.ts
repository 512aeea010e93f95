import { and, eq, inArray } from "drizzle-orm";
import { ACTIVE_ROLLOUT_STATES, RolloutStrategySchema, newId, type RolloutStrategyInput, type RolloutView } from "@probepilot/shared";
import type { Db } from "../../db/client.ts";
import { isUniqueViolation, pgError } from "../../db/pg-error.ts";
import { rolloutAgents, rollouts } from "../../db/schema.ts";
import { recordAudit, type Actor } from "../audit/record-audit.ts";
import { ServiceError } from "../errors.ts";
import { getProbeVersion } from "../probes/get-probe.ts";
import { startWave } from "./engine/evaluate-rollout.ts";
import { toMachine, machineColumns } from "./engine/rollout-store.ts";
import { matchingAgents, planRollout } from "./plan-rollout.ts";
import { notifyRolloutChanged } from "./rollout-signals.ts";
import { getRollout } from "./get-rollout.ts";

export type CreateRolloutInput = {
  probe: string;
  version?: number | undefined;
  selector: string;
  strategy?: RolloutStrategyInput | undefined;
  /** The id a preview computed its waves with (so they hold); a new one otherwise. */
  rolloutId?: string | undefined;
};

/**
 * Create a rollout and start its first wave. The plan (cuts, canary strata,
 * every matching agent's wave) is fixed here from the agents matching now; the
 * engine writes the policy and drives it from there. One active rollout per
 * probe kind: a second one would fight the first over the same agents.
 */
export async function createRollout(db: Db, who: Actor, input: CreateRolloutInput): Promise<RolloutView> {
  const version = await getProbeVersion(db, who.tenantId, input.probe, input.version);
  const strategy = RolloutStrategySchema.parse(input.strategy ?? {});
  const id = input.rolloutId ?? newId("rollout");
  const now = Date.now();
  await db.transaction(async (tx) => {
    const [active] = await tx
      .select({ id: rollouts.id, state: rollouts.state })
      .from(rollouts)
      .where(and(eq(rollouts.tenantId, who.tenantId), eq(rollouts.kind, version.kind), inArray(rollouts.state, [...ACTIVE_ROLLOUT_STATES])))
      .limit(1);
    if (active) {
      throw new ServiceError("CONFLICT", `rollout ${active.id} of ${version.kind} is ${active.state}; one rollout per probe kind at a time: let it finish, or abort or roll it back first`);
    }
    const matching = await matchingAgents(tx, who.tenantId, input.selector);
    const plan = planRollout(id, strategy.waves, matching);
    const row = {
      id,
      tenantId: who.tenantId,
      probeId: version.probeId,
      probeName: version.name,
      kind: version.kind,
      version: version.version,
      specHash: version.specHash,
      params: version.params,
      selector: input.selector,
      strategy,
      policyId: newId("policy"),
      state: "running" as const,
      stateReason: null,
      currentWave: 0,
      phase: "gate" as const,
      cuts: plan.cuts,
      canary: plan.canary,
      waveTimes: plan.cuts.map(() => ({ startedAt: null, completedAt: null })),
      health: null,
      createdBy: who.actor,
      createdAt: new Date(now),
      updatedAt: new Date(now),
      completedAt: null,
      gateDeadline: null,
      bakeEndsAt: null,
      revision: 0,
      stageVersion: 1,
      kvStageVersion: 0,
      supersededBy: null,
    };
    const machine = toMachine(row);
    startWave(machine, 0, now);
    try {
      await tx.insert(rollouts).values({ ...row, ...machineColumns(machine) });
    } catch (err) {
      throw conflictOf(err, id, version.kind) ?? err;
    }
    const members = [...plan.waveOfAgent].map(([agentId, wave]) => ({ rolloutId: id, agentId, tenantId: who.tenantId, wave, state: "pending" as const, membership: "initial" as const }));
    // Chunked: one insert's parameters are bounded (65k), a fleet is not.
    for (let i = 0; i < members.length; i += 5000) await tx.insert(rolloutAgents).values(members.slice(i, i + 5000));
    await recordAudit(tx, who, "rollout.create", id, {
      probe: version.name,
      version: version.version,
      specHash: version.specHash,
      selector: input.selector,
      strategy,
      matching: matching.length,
      waves: plan.waves.map((w) => ({ target: w.target, count: w.count })),
      canary: plan.canary,
    });
  });
  await notifyRolloutChanged(db, id);
  return getRollout(db, who.tenantId, id);
}

/** The unique violations a create can hit, as messages that say what to do. */
function conflictOf(err: unknown, id: string, kind: string): ServiceError | null {
  if (!isUniqueViolation(err)) return null;
  if (pgError(err)!.constraint_name === "rollouts_one_active_per_kind_idx") {
    return new ServiceError("CONFLICT", `another rollout of ${kind} became active meanwhile; one rollout per probe kind at a time (probepilot rollout list)`, { cause: err });
  }
  return new ServiceError("CONFLICT", `rollout ${id} already exists: a preview's id can be used for one rollout only; preview again`, { cause: err });
}
