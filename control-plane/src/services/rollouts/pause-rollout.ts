import type { Db } from "../../db/client.ts";
import type { Actor } from "../audit/record-audit.ts";
import { changeRollout, reasonOf, type RolloutActionInput } from "./change-rollout.ts";

/** Stop moving: the stage stays as it is (agents keep what they run) until resumed, promoted, aborted or rolled back. */
export function pauseRollout(db: Db, who: Actor, input: RolloutActionInput) {
  return changeRollout(db, who, input, "pause", (m) => {
    m.state = "paused";
    m.stateReason = reasonOf(input, who, "paused");
    return { stageChanged: false };
  });
}
