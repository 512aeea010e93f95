import { and, eq, sql } from "drizzle-orm";
import { ROLLOUT_ACTION_ALLOWED_FROM, type RolloutAction, type RolloutView } from "@probepilot/shared";
import type { Db, Tx } from "../../db/client.ts";
import { rollouts, type RolloutRow } from "../../db/schema.ts";
import { recordAudit, type Actor } from "../audit/record-audit.ts";
import { ServiceError } from "../errors.ts";
import { machineColumns, toMachine } from "./engine/rollout-store.ts";
import type { RolloutMachine } from "./engine/evaluate-rollout.ts";
import { getRollout } from "./get-rollout.ts";
import { notifyRolloutChanged } from "./rollout-signals.ts";

export type RolloutActionInput = { id: string; reason?: string | undefined };

/**
 * An operator's action on a rollout, in one transaction with its audit entry:
 * lock the row, check the action is allowed in its state, move the state
 * machine, bump its revision (so an engine step computed from the old row is
 * discarded), and signal the engine, which writes the policy if the stage moved.
 */
export async function changeRollout(
  db: Db,
  who: Actor,
  input: RolloutActionInput,
  action: RolloutAction,
  apply: (m: RolloutMachine, now: number) => { stageChanged: boolean },
  after?: (tx: Tx, row: RolloutRow) => Promise<void>,
): Promise<RolloutView> {
  const allowedFrom = ROLLOUT_ACTION_ALLOWED_FROM[action];
  await db.transaction(async (tx) => {
    const [row] = await tx
      .select()
      .from(rollouts)
      .where(and(eq(rollouts.tenantId, who.tenantId), eq(rollouts.id, input.id)))
      .for("update")
      .limit(1);
    if (!row) throw new ServiceError("NOT_FOUND", `rollout "${input.id}" not found; list rollouts with \`probepilot rollout list\``);
    if (!allowedFrom.includes(row.state)) {
      throw new ServiceError("CONFLICT", `rollout ${row.id} is ${row.state.replace("_", " ")}: ${action} needs a rollout that is ${allowedFrom.map((s) => s.replace("_", " ")).join(" or ")}`);
    }
    const machine = toMachine(row);
    const { stageChanged } = apply(machine, Date.now());
    await tx
      .update(rollouts)
      .set({
        ...machineColumns(machine),
        revision: sql`${rollouts.revision} + 1`,
        stageVersion: stageChanged ? sql`${rollouts.stageVersion} + 1` : rollouts.stageVersion,
        updatedAt: new Date(),
      })
      .where(eq(rollouts.id, row.id));
    await recordAudit(tx, who, `rollout.${action}`, row.id, { from: row.state, to: machine.state, wave: row.currentWave, ...(input.reason ? { reason: input.reason } : {}) });
    await after?.(tx, row);
  });
  await notifyRolloutChanged(db, input.id);
  return getRollout(db, who.tenantId, input.id);
}

/** The reason shown on the rollout: the operator's words, or who did it. */
export const reasonOf = (input: RolloutActionInput, who: Actor, verb: string) => input.reason ?? `${verb} by ${who.actor}`;
