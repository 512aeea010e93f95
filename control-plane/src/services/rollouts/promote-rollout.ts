import type { Db } from "../../db/client.ts";
import type { Actor } from "../audit/record-audit.ts";
import { changeRollout, type RolloutActionInput } from "./change-rollout.ts";

/**
 * Move on now: the current wave skips the rest of its gate wait and its bake, and
 * the engine starts the next wave at its next pass. The guards still hold: a wave
 * whose failures are over the limit fails instead of moving on.
 */
export function promoteRollout(db: Db, who: Actor, input: RolloutActionInput) {
  return changeRollout(db, who, input, "promote", (m, now) => {
    m.state = "running";
    m.stateReason = null;
    m.phase = "bake";
    m.bakeEndsAt = now;
    return { stageChanged: false };
  });
}
