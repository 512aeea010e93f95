import type { Db } from "../../db/client.ts";
import type { Actor } from "../audit/record-audit.ts";
import { changeRollout, reasonOf, type RolloutActionInput } from "./change-rollout.ts";

/**
 * End the rollout where it is, for good: no further wave starts. The stage stays
 * as it is (its policy keeps its cut), so the agents in it keep the version, and an
 * agent of the stage that was offline, or joins under the cut, gets it. Roll it
 * back to remove it.
 */
export function abortRollout(db: Db, who: Actor, input: RolloutActionInput) {
  return changeRollout(db, who, input, "abort", (m, now) => {
    m.state = "aborted";
    m.stateReason = reasonOf(input, who, "aborted");
    m.phase = null;
    m.gateDeadline = null;
    m.bakeEndsAt = null;
    m.completedAt = now;
    return { stageChanged: false };
  });
}
