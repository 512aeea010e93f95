import { z } from "zod";
import { ProbeKindSchema } from "./probe-spec.ts";
import { SelectorStringSchema, parseSelector, matchesSelector } from "./selector/index.ts";
import type { Labels } from "./labels.ts";

/** Wave cuts are in basis points: 10000 = every matching agent. */
export const FULL_CUT_BASIS_POINTS = 10_000;

/**
 * A policy: desired probe state for the agents a selector and a stage pick.
 * Stored as one key per policy in the tenant's policy KV bucket; agents evaluate
 * it locally, so one rollout step is one KV write whatever the fleet size.
 */
export const PolicySchema = z.object({
  policyId: z.string().min(1),
  /** The rollout driving this policy; part of the wave hash so each rollout samples its own canary. */
  rolloutId: z.string().min(1),
  probe: z.object({
    kind: ProbeKindSchema,
    version: z.string().min(1),
    specHash: z.string().min(1),
    params: z.record(z.string(), z.unknown()).default({}),
  }),
  selector: SelectorStringSchema,
  stage: z.object({
    /** Agents whose wave hash is below this cut are in (0..10000). */
    cutBasisPoints: z.number().int().min(0).max(FULL_CUT_BASIS_POINTS),
    /** Agents included explicitly whatever their hash (canary strata). */
    agentIds: z.array(z.string()).default([]),
  }),
  revision: z.number().int().nonnegative(),
  updatedAt: z.number().int().nonnegative(),
});
export type Policy = z.infer<typeof PolicySchema>;

/**
 * Stable position of an agent within a rollout, in [0, 10000).
 * FNV-1a (32-bit) of `agentId/rolloutId`: pure, identical in Node and the browser,
 * and independent per rollout. Because the cut only grows, the canary set only grows.
 */
export function waveHash(agentId: string, rolloutId: string): number {
  const text = `${agentId}/${rolloutId}`;
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % FULL_CUT_BASIS_POINTS;
}

/** Whether a policy applies to an agent: its selector matches and the agent is inside the active stage. */
export function policyAppliesTo(policy: Policy, agentId: string, labels: Labels): boolean {
  if (!matchesSelector(parseSelector(policy.selector), labels)) return false;
  if (policy.stage.agentIds.includes(agentId)) return true;
  return waveHash(agentId, policy.rolloutId) < policy.stage.cutBasisPoints;
}

/** One probe an agent should run, and the policy that asked for it. */
export type DesiredProbe = { kind: Policy["probe"]["kind"]; version: string; specHash: string; params: Record<string, unknown>; policyId: string; revision: number };

/**
 * The union of what the matching policies ask for. Two policies for the same probe
 * kind resolve by recency (`updatedAt`, then policy id for a total order) and the
 * loser is reported as a conflict rather than dropped silently.
 */
export function desiredProbes(
  policies: Iterable<Policy>,
  agentId: string,
  labels: Labels,
): { probes: DesiredProbe[]; conflicts: { kind: string; winner: string; loser: string }[] } {
  const byKind = new Map<string, Policy>();
  const conflicts: { kind: string; winner: string; loser: string }[] = [];
  for (const policy of policies) {
    if (!policyAppliesTo(policy, agentId, labels)) continue;
    const current = byKind.get(policy.probe.kind);
    if (!current) {
      byKind.set(policy.probe.kind, policy);
      continue;
    }
    const newer =
      policy.updatedAt > current.updatedAt || (policy.updatedAt === current.updatedAt && policy.policyId > current.policyId);
    const [winner, loser] = newer ? [policy, current] : [current, policy];
    byKind.set(policy.probe.kind, winner);
    conflicts.push({ kind: policy.probe.kind, winner: winner.policyId, loser: loser.policyId });
  }
  const probes = [...byKind.values()]
    .map((p) => ({ kind: p.probe.kind, version: p.probe.version, specHash: p.probe.specHash, params: p.probe.params, policyId: p.policyId, revision: p.revision }))
    .sort((a, b) => a.kind.localeCompare(b.kind));
  return { probes, conflicts };
}
