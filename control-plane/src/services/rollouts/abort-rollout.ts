import type { Db } from "../../db/client.ts";
import type { Actor } from "../audit/record-audit.ts";
import { changeRollout, reasonOf, type RolloutActionInput } from "./change-rollout.ts";

/**
 * End the rollout where it is, for good: agents that have the version keep it,
 * nobody else gets it. (Roll it back to remove it.)
 */
export function abortRollout(db: Db, who: Actor, input: RolloutActionInput) {
  return changeRollout(db, who, input, "abort", ["running", "paused"], (m, now) => {
    m.state = "aborted";
    m.stateReason = reasonOf(input, who, "aborted");
    m.phase = null;
    m.gateDeadline = null;
    m.bakeEndsAt = null;
    m.completedAt = now;
    return { stageChanged: false };
  });
}
