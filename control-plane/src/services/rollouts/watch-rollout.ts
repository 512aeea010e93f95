import { ACTIVE_ROLLOUT_STATES, type RolloutView } from "@probepilot/shared";
import type { DbOrTx } from "../../db/client.ts";
import { getRollout } from "./get-rollout.ts";
import type { RolloutSignals } from "./rollout-signals.ts";

/** At most this many views per second per subscriber: a wave of 5,000 status changes is a few frames, not 5,000. */
const MIN_FRAME_GAP_MS = 250;
/** Re-read without a signal now and then, so that a lost NOTIFY never leaves a viewer stale for long. */
const REFRESH_MS = 5000;

/**
 * The rollout now, then again each time it changes (an engine step, an agent's
 * state, an operator's action), until the caller goes away. A view identical to
 * the last one sent is not sent again.
 */
export async function* watchRollout(db: DbOrTx, signals: RolloutSignals, tenantId: string, id: string, signal: AbortSignal): AsyncGenerator<RolloutView> {
  let dirty = false;
  let wake: (() => void) | null = null;
  const off = signals.onRolloutChanged((changed) => {
    if (changed !== id) return;
    dirty = true;
    wake?.();
  });
  const onAbort = () => wake?.();
  signal.addEventListener("abort", onAbort);
  try {
    let last = "";
    for (;;) {
      const view = await getRollout(db, tenantId, id);
      const text = JSON.stringify(view);
      if (text !== last) {
        last = text;
        yield view;
      }
      if (signal.aborted) return;
      await new Promise((r) => setTimeout(r, MIN_FRAME_GAP_MS));
      if (!dirty && !signal.aborted) {
        // Final rollouts change rarely (a late agent report): refresh them slowly.
        const wait = ACTIVE_ROLLOUT_STATES.includes(view.state) ? REFRESH_MS : REFRESH_MS * 6;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, wait);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = null;
      }
      dirty = false;
      if (signal.aborted) return;
    }
  } finally {
    off();
    signal.removeEventListener("abort", onAbort);
  }
}
