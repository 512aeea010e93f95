import { z } from "zod";
import { FULL_CUT_BASIS_POINTS, waveHash } from "./policy.ts";
import { ProbeKindSchema } from "./probe-spec.ts";
import { MAX_WAVES, MAX_WAVE_AGENTS, boundedArray, formatCount, tooMany } from "./limits.ts";

/**
 * Rollouts (brief, "Rollouts"): a probe version staged over the agents a selector
 * matches, wave by wave, each wave gated on the health of its members.
 */

/**
 * One wave: a share of the matching agents (`percent`) or a number of them
 * (`count`). A wave's cut never shrinks the stage: the canary set only grows.
 */
export const WaveSchema = z.union([
  z.object({ percent: z.number().gt(0, "a wave's percent must be above 0").max(100, "a wave's percent is at most 100") }).strict(),
  z
    .object({
      count: z
        .number()
        .int()
        .min(1, "a wave's count is at least 1 agent")
        .max(MAX_WAVE_AGENTS, `a wave's count is at most ${formatCount(MAX_WAVE_AGENTS)} agents; use a percentage for larger waves`),
    })
    .strict(),
]);
export type Wave = z.infer<typeof WaveSchema>;

export const DEFAULT_WAVES: Wave[] = [{ percent: 1 }, { percent: 10 }, { percent: 50 }, { percent: 100 }];

/** `1%`, `10%`, `25` (agents): how waves are written on the command line and shown. */
export function formatWave(wave: Wave): string {
  return "percent" in wave ? `${wave.percent}%` : `${wave.count}`;
}

/** Parses `1%,10%,50%,100%` or `5,50,100%`; throws with what was wrong. */
export function parseWaves(text: string): Wave[] {
  const waves = text.split(",").map((part, i) => {
    const t = part.trim();
    const pct = /^(\d+(?:\.\d+)?)%$/.exec(t);
    if (pct) return { percent: Number(pct[1]) };
    if (/^\d+$/.test(t)) return { count: Number(t) };
    throw new Error(`waves "${text}": wave ${i + 1} is "${t}"; expected a percentage such as 10% or a number of agents such as 25`);
  });
  const parsed = WavesSchema.safeParse(waves);
  if (!parsed.success) throw new Error(`waves "${text}": ${parsed.error.issues[0]!.message}`);
  return parsed.data;
}

/** At most {@link MAX_WAVES} waves, each bigger than the one before (counted before the waves are parsed). */
export const WavesSchema = boundedArray(
  z
    .array(WaveSchema)
    .min(1, "a rollout needs at least one wave")
    .max(MAX_WAVES) // checked first by boundedArray; kept for JSON Schema (maxItems)
    .superRefine((waves, ctx) => {
      for (const kind of ["percent", "count"] as const) {
        const values = waves.flatMap((w) => (kind in w ? [(w as Record<string, number>)[kind]!] : []));
        for (let i = 1; i < values.length; i++) {
          if (values[i]! <= values[i - 1]!) {
            ctx.addIssue({ code: "custom", message: `waves must grow: ${kind === "percent" ? `${values[i]}% after ${values[i - 1]}%` : `${values[i]} agents after ${values[i - 1]}`}` });
            return;
          }
        }
      }
    }),
  MAX_WAVES,
  (n) => `a rollout has ${tooMany(`${MAX_WAVES} waves`, n)}`,
);

/**
 * The health gate of every wave. A wave passes when at least `minHealthyPercent`
 * of its members (offline and unsupported ones aside) run the probe healthily,
 * within `timeoutSeconds` of the wave's start. The guards fail a wave at once,
 * during the gate or the bake: more than `maxFailedPercent` of the members failed,
 * or the probe's mean cost on the members above `maxProbeCpuPercent` of a core.
 */
export const HealthGateSchema = z
  .object({
    minHealthyPercent: z.number().min(0).max(100).default(95),
    timeoutSeconds: z.number().int().min(1).max(86_400).default(300),
    maxFailedPercent: z.number().min(0).max(100).default(5),
    maxProbeCpuPercent: z.number().positive().max(100).optional(),
  })
  .strict();
export type HealthGate = z.infer<typeof HealthGateSchema>;

export const FAILURE_POLICIES = ["rollback", "pause"] as const;
export const FailurePolicySchema = z.enum(FAILURE_POLICIES);
export type FailurePolicy = z.infer<typeof FailurePolicySchema>;

export const RolloutStrategySchema = z
  .object({
    waves: WavesSchema.default(DEFAULT_WAVES),
    /** How long each wave's members must stay healthy after its gate passed before the next wave starts. */
    bakeSeconds: z.number().int().min(0).max(7 * 86_400).default(60),
    gate: HealthGateSchema.default({ minHealthyPercent: 95, timeoutSeconds: 300, maxFailedPercent: 5 }),
    onFailure: FailurePolicySchema.default("rollback"),
  })
  .strict();
export type RolloutStrategy = z.infer<typeof RolloutStrategySchema>;
export type RolloutStrategyInput = z.input<typeof RolloutStrategySchema>;

/**
 * A rollout's lifecycle. `running` moves wave by wave (each wave waits for its
 * gate, then bakes); `paused` waits for an operator; `rolling_back` waits for the
 * affected agents to drop the version. The last three are final.
 */
export const ROLLOUT_STATES = ["running", "paused", "rolling_back", "completed", "rolled_back", "aborted"] as const;
export const RolloutStateSchema = z.enum(ROLLOUT_STATES);
export type RolloutState = z.infer<typeof RolloutStateSchema>;
export const ACTIVE_ROLLOUT_STATES: readonly RolloutState[] = ["running", "paused", "rolling_back"];

/** Where a running wave is: waiting for its health gate, or baking after it passed. */
export const WavePhaseSchema = z.enum(["gate", "bake"]);
export type WavePhase = z.infer<typeof WavePhaseSchema>;

/**
 * One agent's state within a rollout: `pending` (in the stage, not started yet),
 * `applying`, `applied` (running), `verified` (healthy through its wave's bake),
 * `failed` (with the error), `rolled_back` (the rollout was undone; the row keeps
 * the attempted version), `skipped` (the probe is unsupported there, with the reason).
 */
export const ROLLOUT_AGENT_STATES = ["pending", "applying", "applied", "verified", "failed", "rolled_back", "skipped"] as const;
export const RolloutAgentStateSchema = z.enum(ROLLOUT_AGENT_STATES);
export type RolloutAgentState = z.infer<typeof RolloutAgentStateSchema>;

/**
 * How an agent came to be (or stopped being) in a rollout: in the matching set at
 * the start, `joined` (enrolled afterwards), `relabeled_in` (its labels changed so
 * that the selector matches), `relabeled_out` (its labels no longer match: it
 * dropped the probe itself, and stays listed so nobody is silently lost), `revoked`
 * (the agent was revoked: gone for good, no longer waited for or counted).
 */
export const ROLLOUT_MEMBERSHIPS = ["initial", "joined", "relabeled_in", "relabeled_out", "revoked"] as const;
export const RolloutMembershipSchema = z.enum(ROLLOUT_MEMBERSHIPS);
export type RolloutMembership = z.infer<typeof RolloutMembershipSchema>;

export type RolloutAgentCounts = Record<RolloutAgentState, number>;
export const emptyAgentCounts = (): RolloutAgentCounts => ({ pending: 0, applying: 0, applied: 0, verified: 0, failed: 0, rolled_back: 0, skipped: 0 });

/** Operator actions (and the engine's own) recorded in the audit trail as `rollout.<action>`. */
export const ROLLOUT_ACTIONS = ["pause", "resume", "promote", "abort", "rollback"] as const;
export const RolloutActionSchema = z.enum(ROLLOUT_ACTIONS);
export type RolloutAction = z.infer<typeof RolloutActionSchema>;

/** The states each operator action is allowed from (the server refuses others with CONFLICT; the UI disables the button). */
export const ROLLOUT_ACTION_ALLOWED_FROM: Readonly<Record<RolloutAction, readonly RolloutState[]>> = {
  pause: ["running"],
  resume: ["paused"],
  promote: ["running", "paused"],
  abort: ["running", "paused"],
  rollback: ["running", "paused", "completed", "aborted"],
};

/** The agent facts a canary stratum is made of (brief: "every kernel, architecture, distribution"). */
export type Stratum = { kernel: string; arch: string; os: string };
export const stratumKey = (s: Stratum) => `${s.kernel}|${s.arch}|${s.os}`;

/**
 * Cut (in basis points of the hash space) that admits a wave. A percentage maps
 * directly; a count takes the `count` lowest hashes of the matching agents, so
 * exactly that many are in (agents joining later land by their hash). Never below
 * the previous cut.
 */
export function waveCut(wave: Wave, rolloutId: string, matchingAgentIds: readonly string[], previousCut: number): number {
  let cut: number;
  if ("percent" in wave) cut = Math.round(wave.percent * 100);
  else {
    const hashes = matchingAgentIds.map((id) => waveHash(id, rolloutId)).sort((a, b) => a - b);
    cut = wave.count >= hashes.length ? FULL_CUT_BASIS_POINTS : hashes[wave.count - 1]! + 1;
  }
  return Math.min(FULL_CUT_BASIS_POINTS, Math.max(cut, previousCut));
}

/**
 * The canary's explicit members: for every (kernel, arch, os) stratum of the
 * matching agents with no agent under the first cut, the stratum's agent with the
 * lowest wave hash (deterministic, so a preview and the rollout pick the same).
 */
export function canaryStrata(rolloutId: string, matching: readonly (Stratum & { id: string })[], firstCut: number): { stratum: Stratum; agentId: string; byHash: boolean }[] {
  const best = new Map<string, { stratum: Stratum; agentId: string; hash: number }>();
  for (const a of matching) {
    const key = stratumKey(a);
    const hash = waveHash(a.id, rolloutId);
    const seen = best.get(key);
    if (!seen || hash < seen.hash || (hash === seen.hash && a.id < seen.agentId)) best.set(key, { stratum: { kernel: a.kernel, arch: a.arch, os: a.os }, agentId: a.id, hash });
  }
  return [...best.values()]
    .sort((x, y) => stratumKey(x.stratum).localeCompare(stratumKey(y.stratum)))
    .map((b) => ({ stratum: b.stratum, agentId: b.agentId, byHash: b.hash < firstCut }));
}

/**
 * The wave that admits an agent: 0 for the canary's explicit members, otherwise
 * the first wave whose cut is above the agent's hash; -1 if none (yet).
 */
export function waveOf(agentId: string, rolloutId: string, cuts: readonly number[], canaryIds: readonly string[]): number {
  if (canaryIds.includes(agentId)) return 0;
  const hash = waveHash(agentId, rolloutId);
  return cuts.findIndex((cut) => hash < cut);
}

/** A probe version, as the API shows it. */
export const ProbeVersionViewSchema = z.object({
  probeId: z.string(),
  name: z.string(),
  kind: ProbeKindSchema,
  version: z.number().int().positive(),
  specHash: z.string(),
  params: z.record(z.string(), z.unknown()),
  createdBy: z.string(),
  createdAt: z.string(),
});
export type ProbeVersionView = z.infer<typeof ProbeVersionViewSchema>;

/** The version string policies and agent statuses carry for a probe version (`v3`). */
export const versionLabel = (version: number) => `v${version}`;

/** Per-wave progress of a rollout. */
export type RolloutWaveView = {
  index: number;
  target: string;
  cutBasisPoints: number | null;
  /** Matching agents this wave admits (its own, not the earlier waves'), now. */
  planned: number;
  counts: RolloutAgentCounts;
  startedAt: string | null;
  completedAt: string | null;
};

/** A rollout as every client sees it (CLI `rollout status`, the `rollouts.watch` subscription, the UI). */
export type RolloutView = {
  id: string;
  probe: { id: string; name: string; kind: string; version: number; specHash: string };
  selector: string;
  strategy: RolloutStrategy;
  state: RolloutState;
  stateReason: string | null;
  currentWave: number;
  phase: WavePhase | null;
  /** When the current wave's gate times out, and when its bake ends (ISO). */
  gateDeadline: string | null;
  bakeEndsAt: string | null;
  policyId: string;
  canary: { stratum: Stratum; agentId: string; byHash: boolean }[];
  waves: RolloutWaveView[];
  totals: RolloutAgentCounts;
  /** Agents the selector matches now. */
  matching: number;
  /** Agents in the stage that are offline (not counted by the gate). */
  offline: number;
  membership: Record<RolloutMembership, number>;
  /** Health of the stage as the gate last saw it. */
  health: { members: number; healthyPercent: number; failedPercent: number; meanProbeCpuPercent: number | null };
  /** The latest agents that failed the version (still failed, or rolled back since), with their errors. */
  recentFailures: { agentId: string; hostname: string; error: string; at: string }[];
  createdBy: string;
  createdAt: string;
  updatedAt: string;
  completedAt: string | null;
};

/** One agent's row in a rollout. */
export type RolloutAgentView = {
  agentId: string;
  hostname: string;
  wave: number;
  state: RolloutAgentState;
  membership: RolloutMembership;
  online: boolean;
  error: string | null;
  attemptedVersion: number;
  updatedAt: string;
};

/** What `rollouts.preview` answers: the matching agents in total and per wave, and the canary's strata. */
export type RolloutPreview = {
  rolloutId: string;
  probe: { id: string; name: string; kind: string; version: number; specHash: string };
  selector: string;
  matching: number;
  waves: { index: number; target: string; cutBasisPoints: number; count: number; cumulative: number }[];
  canary: { stratum: Stratum; agentId: string; byHash: boolean }[];
  /** Probe kind already staged by an active rollout (creating would be refused). */
  blockedBy: string | null;
};
