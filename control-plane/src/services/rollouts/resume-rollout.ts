import type { Db } from "../../db/client.ts";
import type { Actor } from "../audit/record-audit.ts";
import { changeRollout, type RolloutActionInput } from "./change-rollout.ts";

/** Carry on from a pause: the current wave's gate is evaluated afresh, with a new timeout, then its bake. */
export function resumeRollout(db: Db, who: Actor, input: RolloutActionInput) {
  return changeRollout(db, who, input, "resume", (m, now) => {
    m.state = "running";
    m.stateReason = null;
    m.phase = "gate";
    m.gateDeadline = now + m.strategy.gate.timeoutSeconds * 1000;
    m.bakeEndsAt = null;
    return { stageChanged: false };
  });
}
