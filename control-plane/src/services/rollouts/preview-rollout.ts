import { and, eq, inArray } from "drizzle-orm";
import { ACTIVE_ROLLOUT_STATES, DEFAULT_WAVES, WavesSchema, newId, type RolloutPreview, type Wave } from "@probepilot/shared";
import type { DbOrTx } from "../../db/client.ts";
import { rollouts } from "../../db/schema.ts";
import { getProbeVersion } from "../probes/get-probe.ts";
import { matchingAgents, planRollout } from "./plan-rollout.ts";

export type PreviewRolloutInput = { probe: string; version?: number | undefined; selector: string; waves?: Wave[] | undefined; rolloutId?: string | undefined };

/**
 * What a rollout would do now: the agents its selector matches, in total and per
 * wave, and the canary's strata. The preview names the rollout id it computed
 * with; creating with that id gives exactly these waves (wave membership hashes
 * the rollout id).
 */
export async function previewRollout(db: DbOrTx, tenantId: string, input: PreviewRolloutInput): Promise<RolloutPreview> {
  const version = await getProbeVersion(db, tenantId, input.probe, input.version);
  const waves = WavesSchema.parse(input.waves ?? DEFAULT_WAVES);
  const rolloutId = input.rolloutId ?? newId("rollout");
  const matching = await matchingAgents(db, tenantId, input.selector);
  const plan = planRollout(rolloutId, waves, matching);
  const [active] = await db
    .select({ id: rollouts.id })
    .from(rollouts)
    .where(and(eq(rollouts.tenantId, tenantId), eq(rollouts.kind, version.kind), inArray(rollouts.state, [...ACTIVE_ROLLOUT_STATES])))
    .limit(1);
  return {
    rolloutId,
    probe: { id: version.probeId, name: version.name, kind: version.kind, version: version.version, specHash: version.specHash },
    selector: input.selector,
    matching: matching.length,
    waves: plan.waves,
    canary: plan.canary,
    blockedBy: active?.id ?? null,
  };
}
