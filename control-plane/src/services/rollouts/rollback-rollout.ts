import { eq, sql } from "drizzle-orm";
import type { Db } from "../../db/client.ts";
import { isUniqueViolation } from "../../db/pg-error.ts";
import { rollouts } from "../../db/schema.ts";
import { recordAudit, type Actor } from "../audit/record-audit.ts";
import { ServiceError } from "../errors.ts";
import { startRollback } from "./engine/evaluate-rollout.ts";
import { changeRollout, reasonOf, type RolloutActionInput } from "./change-rollout.ts";

/**
 * Undo the rollout: its policy is removed, so every agent it reached goes back to
 * what it ran before (the previous version's policy, the built-in default of
 * the kind, or no probe). Rollouts this one had retired get their policies back.
 */
export async function rollbackRollout(db: Db, who: Actor, input: RolloutActionInput) {
  try {
    return await changeRollout(
      db,
      who,
      input,
      "rollback",
      (m, now) => {
        startRollback(m, reasonOf(input, who, "rolled back"), now);
        return { stageChanged: true };
      },
      async (tx, row) => {
        const restored = await tx
          .update(rollouts)
          .set({ supersededBy: null, stageVersion: sql`${rollouts.stageVersion} + 1`, revision: sql`${rollouts.revision} + 1`, updatedAt: new Date() })
          .where(eq(rollouts.supersededBy, row.id))
          .returning({ id: rollouts.id });
        for (const r of restored) await recordAudit(tx, who, "rollout.restored", r.id, { becauseOfRollbackOf: row.id });
      },
    );
  } catch (err) {
    if (isUniqueViolation(err)) throw new ServiceError("CONFLICT", `another rollout of this probe kind is active; finish it before rolling ${input.id} back`, { cause: err });
    throw err;
  }
}
