/**
 * What the rollout pages show, as pure functions of the API's views (and of
 * `now`, for countdowns): which actions a state allows, the parts of a wave's
 * progress bar, the phase in words, the audit trail in words, and the wizard's
 * strategy read from its fields. No DOM here: it is unit-tested on its own.
 */
import {
  ROLLOUT_ACTION_ALLOWED_FROM,
  ROLLOUT_AGENT_STATE_ORDER,
  RolloutStrategySchema,
  describeRunningPhase,
  formatPercent,
  formatWave,
  parseWaves,
  secondsBetween,
  secondsUntil,
  waveOfTotal,
  waveStateValues,
  type RolloutAction,
  type RolloutAgentCounts,
  type RolloutState,
  type RolloutStrategy,
  type RolloutStrategyInput,
  type RolloutView,
  type RolloutWaveView,
} from "@probepilot/shared";
import type { RouterOutputs } from "../../api/client.ts";
import { formatSeconds } from "../../lib/format.ts";
import { fieldsFromSchema, readForm, type FormErrors, type FormField, type FormValues, type JsonSchema } from "../probes/schema-form.ts";

// ---------------------------------------------------------------------------
// Actions

/** The action buttons, in the order they show, with what each does (the button's title) and, for the ones that cannot be undone, what the confirm step says. */
export const ROLLOUT_ACTIONS_UI: readonly { action: RolloutAction; label: string; does: string; confirm?: string; danger?: boolean }[] = [
  { action: "pause", label: "Pause", does: "Stop moving: agents keep what they run; no new wave starts until it is resumed." },
  { action: "resume", label: "Resume", does: "Carry on: the current wave's gate is evaluated afresh, with a new timeout." },
  { action: "promote", label: "Promote", does: "Skip the rest of the current wave's gate wait and bake and start the next wave now (the failure guards still hold)." },
  {
    action: "abort",
    label: "Abort",
    does: "End the rollout where it is, for good: no further wave starts; agents already in keep the version.",
    confirm: "Abort ends this rollout for good: no further wave starts, and the agents already in keep the version (roll it back to remove it).",
    danger: true,
  },
  {
    action: "rollback",
    label: "Roll back",
    does: "Undo the rollout: every agent it reached goes back to what it ran before.",
    confirm: "Roll back removes this version from every agent the rollout reached: each goes back to what it ran before (the previous version, the kind's default, or no probe).",
    danger: true,
  },
];

const stateWords = (s: RolloutState) => s.replaceAll("_", " ");

/** Why an action is not possible in a state (`Resume needs a paused rollout; this one is running`), or null when it is. */
export function actionBlockedReason(action: RolloutAction, state: RolloutState): string | null {
  const allowed = ROLLOUT_ACTION_ALLOWED_FROM[action];
  if (allowed.includes(state)) return null;
  const label = ROLLOUT_ACTIONS_UI.find((a) => a.action === action)?.label ?? action;
  return `${label} needs a ${allowed.map(stateWords).join(" or ")} rollout; this one is ${stateWords(state)}`;
}

// ---------------------------------------------------------------------------
// Agent states, counts and progress

/**
 * The parts of a wave's progress bar, in the shared agent state order. Agents the
 * wave admits that have no row yet count as pending, so the bar's total is
 * what the wave will hold.
 */
export function waveParts(counts: RolloutAgentCounts, planned: number): { parts: { value: number; state: string; label: string }[]; total: number } {
  const values = waveStateValues(counts, planned);
  const parts = ROLLOUT_AGENT_STATE_ORDER.map((s, i) => ({ state: s, label: s.replace("_", " "), value: values[i]! }));
  return { parts, total: parts.reduce((sum, p) => sum + p.value, 0) };
}

/** `verified 5 · applied 23 · failed 2`: the non-zero states, in bar order. */
export function formatCounts(counts: RolloutAgentCounts): string {
  const parts = ROLLOUT_AGENT_STATE_ORDER.filter((s) => counts[s] > 0).map((s) => `${s.replace("_", " ")} ${counts[s]}`);
  return parts.length ? parts.join(" · ") : "no agents yet";
}

// ---------------------------------------------------------------------------
// Phase and timing

/**
 * Where the rollout is, in words: `wave 2/4 gate: 87% healthy of 120 (need 95%),
 * times out in 4m 12s`, `wave 2/4 baking, next wave in 45 s`, `at wave 1/4`.
 * The reason of a paused or ended rollout shows on its own, not here.
 */
export function describePhase(v: RolloutView, now: number): string {
  switch (v.state) {
    case "running":
      return describeRunningPhase(v, now, formatSeconds);
    case "paused":
      return `at ${waveOfTotal(v)}`;
    case "rolling_back":
      return `${v.totals.rolled_back} agent${v.totals.rolled_back === 1 ? "" : "s"} back so far`;
    case "completed":
      return v.completedAt ? `took ${formatSeconds(secondsBetween(v.createdAt, v.completedAt))}` : "";
    default:
      return "";
  }
}

/** A wave's status: done (and how long it took), its live gate or bake countdown, started, or not yet. */
export function waveStatus(v: RolloutView, w: RolloutWaveView, now: number): { marker: "done" | "current" | "failed" | "waiting"; text: string } {
  if (w.completedAt) return { marker: "done", text: w.startedAt ? `done in ${formatSeconds(secondsBetween(w.startedAt, w.completedAt))}` : "done" };
  if (w.index === v.currentWave) {
    if (v.state === "running" && v.phase === "gate" && v.gateDeadline) return { marker: "current", text: `gate: ${formatSeconds(secondsUntil(v.gateDeadline, now))} until it times out` };
    if (v.state === "running" && v.phase === "bake" && v.bakeEndsAt) return { marker: "current", text: `baking: ${formatSeconds(secondsUntil(v.bakeEndsAt, now))} left` };
    if (v.state === "paused") return { marker: "current", text: "paused" };
    if (v.state === "running") return { marker: "current", text: "starting" };
    if (v.state === "rolled_back" || v.state === "rolling_back" || v.state === "aborted") return { marker: "failed", text: stateWords(v.state) };
  }
  if (w.startedAt) return { marker: "waiting", text: `started ${new Date(w.startedAt).toLocaleTimeString(undefined, { hour12: false })}` };
  return { marker: "waiting", text: "not started" };
}

/** `waves 1% → 10% → 50% → 100% · bake 1m 0s · gate ≥95% healthy within 5m 0s, ≤5% failed · on failure: roll back`. */
export function describeStrategy(s: RolloutStrategy): string {
  const guards = [`≤${formatPercent(s.gate.maxFailedPercent)} failed`];
  if (s.gate.maxProbeCpuPercent !== undefined) guards.push(`probe CPU ≤${formatPercent(s.gate.maxProbeCpuPercent)} of a core`);
  return [
    `waves ${s.waves.map(formatWave).join(" → ")}`,
    `bake ${formatSeconds(s.bakeSeconds)}`,
    `gate ≥${formatPercent(s.gate.minHealthyPercent)} healthy within ${formatSeconds(s.gate.timeoutSeconds)}, ${guards.join(", ")}`,
    `on failure: ${s.onFailure === "rollback" ? "roll back" : "pause"}`,
  ].join(" · ");
}

// ---------------------------------------------------------------------------
// Audit trail

/** One audit entry of a rollout, as `rollouts.history` returns it. */
export type HistoryEntry = RouterOutputs["rollouts"]["history"][number];

const num = (v: unknown) => (typeof v === "number" ? v : undefined);
const str = (v: unknown) => (typeof v === "string" ? v : undefined);
const waveNo = (v: unknown) => (typeof v === "number" ? `wave ${v + 1}` : "the wave");

/**
 * An audit entry in words: `Wave 2 started (cut 10%)`, `Wave 1 gate passed: 12 of
 * 12 healthy`, `Paused automatically at wave 1: wave 1/4 failed: …`. Unknown
 * actions fall back to their details as `key=value` (waves numbered from 1).
 */
export function describeHistory(e: HistoryEntry): { title: string; detail: string } {
  const d = e.details;
  const reason = str(d.reason);
  const by = d.automatic === true ? " automatically" : "";
  const at = typeof d.wave === "number" ? ` at ${waveNo(d.wave)}` : "";
  switch (e.action) {
    case "rollout.create": {
      const waves = Array.isArray(d.waves) ? (d.waves as { target?: string; count?: number }[]).map((w) => `${w.target} (${w.count})`).join(" → ") : "";
      return { title: `Created: ${str(d.probe) ?? "probe"} v${num(d.version) ?? "?"} on ${str(d.selector) || "all agents"}`, detail: `${num(d.matching) ?? "?"} agents matched${waves ? ` · waves ${waves}` : ""}` };
    }
    case "rollout.wave_started": {
      const cut = num(d.cutBasisPoints);
      return { title: `${capital(waveNo(d.wave))} started`, detail: cut === undefined ? "" : `cut ${formatPercent(cut / 100)} of the hash space` };
    }
    case "rollout.gate_passed":
      return { title: `${capital(waveNo(d.wave))} gate passed`, detail: `${num(d.healthy) ?? "?"} of ${num(d.members) ?? "?"} members healthy (${formatPercent(num(d.healthyPercent) ?? 0)})` };
    case "rollout.wave_completed":
      return { title: `${capital(waveNo(d.wave))} completed`, detail: `${num(d.verified) ?? 0} agents verified` };
    case "rollout.completed":
      return { title: "Completed", detail: `all ${num(d.waves) ?? ""} waves done`.replace("  ", " ") };
    case "rollout.pause":
    case "rollout.resume":
    case "rollout.promote":
    case "rollout.abort":
    case "rollout.rollback": {
      const verb = { "rollout.pause": "Paused", "rollout.resume": "Resumed", "rollout.promote": "Promoted", "rollout.abort": "Aborted", "rollout.rollback": "Rollback started" }[e.action]!;
      const from = str(d.from) && str(d.to) ? `${stateWords(d.from as RolloutState)} → ${stateWords(d.to as RolloutState)}` : "";
      return { title: `${verb}${by}${at}`, detail: [reason, from].filter(Boolean).join(" · ") };
    }
    case "rollout.rolled_back": {
      const unconfirmed = num(d.unconfirmed) ?? 0;
      return { title: "Rolled back", detail: [reason, unconfirmed ? `${unconfirmed} agents did not confirm${d.timedOut === true ? " (timed out)" : ""}` : ""].filter(Boolean).join(" · ") };
    }
    case "rollout.superseded":
      return { title: "Superseded", detail: `by ${str(d.by) ?? "a later rollout"}, which reached 100% of its agents` };
    case "rollout.restored":
      return { title: "Restored", detail: `its policy is back because ${str(d.becauseOfRollbackOf) ?? "a later rollout"} was rolled back` };
    default:
      return { title: e.action.replace(/^rollout\./, "").replaceAll("_", " "), detail: detailPairs(d) };
  }
}

/** Details as `key=value` pairs (a `wave` numbered from 1, as everywhere in the UI). */
export function detailPairs(d: Record<string, unknown>): string {
  return Object.entries(d)
    .map(([k, v]) => `${k}=${k === "wave" && typeof v === "number" ? v + 1 : typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");
}

const capital = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

// ---------------------------------------------------------------------------
// Wizard

/**
 * The wizard's strategy fields (bake, health gate, on failure), generated from
 * the shared `RolloutStrategySchema`, so that bounds and defaults are the ones
 * the control plane applies. Waves are typed as text instead (`1%, 10%, 50%, 100%`).
 */
export function strategyFields(): FormField[] {
  return fieldsFromSchema(RolloutStrategySchema.toJSONSchema({ io: "input" }) as JsonSchema).filter((f) => f.key !== "waves");
}

/** Labels of the strategy fields (the browser tests find "Bake (seconds)" and "On failure" by these). */
export const STRATEGY_LABELS: Record<string, string> = {
  bakeSeconds: "Bake (seconds)",
  onFailure: "On failure",
  gate: "Health gate",
  "gate.minHealthyPercent": "Min healthy (%)",
  "gate.timeoutSeconds": "Gate timeout (seconds)",
  "gate.maxFailedPercent": "Max failed (%)",
  "gate.maxProbeCpuPercent": "Max CPU (% of a core)",
};

/** What each strategy field means. */
export const STRATEGY_HELP: Record<string, string> = {
  bakeSeconds: "How long a wave's agents must stay healthy after its gate passed before the next wave starts.",
  onFailure: "What a failed wave does: roll back removes the version everywhere it went; pause waits for an operator.",
  gate: "Each wave passes when enough of its members run the probe healthily within the timeout; the guards fail it at once.",
  "gate.minHealthyPercent": "Share of the stage's online members that must run the probe healthily.",
  "gate.timeoutSeconds": "How long a wave may take to become healthy before it fails.",
  "gate.maxFailedPercent": "A wave fails at once when more of its members than this have failed.",
  "gate.maxProbeCpuPercent": "A wave fails when the probe's mean CPU cost on its members (kernel plus loader, % of one core) is above this; empty: no limit.",
};

/** The URL search param of each strategy field, so that a wizard link carries its strategy. */
export const STRATEGY_URL_PARAMS: Record<string, string> = {
  bakeSeconds: "bake",
  onFailure: "onFailure",
  "gate.minHealthyPercent": "minHealthy",
  "gate.timeoutSeconds": "gateTimeout",
  "gate.maxFailedPercent": "maxFailed",
  "gate.maxProbeCpuPercent": "maxCpu",
};

/** The waves the wizard starts with, as they are typed: `1%, 10%, 50%, 100%`. */
export const DEFAULT_WAVES_TEXT = (RolloutStrategySchema.parse({}) as RolloutStrategy).waves.map(formatWave).join(", ");

/** Waves typed in the wizard (`1, 10%, 50%, 100%`), or what is wrong with them. */
export function readWaves(text: string): { waves: RolloutStrategy["waves"] } | { error: string } {
  try {
    return { waves: parseWaves(text) };
  } catch (err) {
    return { error: `${(err as Error).message}; for example 1%, 10%, 50%, 100% (shares of the matching agents) or 5, 50, 100%` };
  }
}

/**
 * The strategy the wizard's fields ask for: the waves text, then the fields
 * generated from `RolloutStrategySchema` (bake, gate, on failure), checked by the
 * shared schema itself. Errors are keyed by field (`waves`, `bakeSeconds`,
 * `gate.minHealthyPercent`…); the strategy is only given when there are none.
 */
export function readStrategy(wavesText: string, fields: readonly FormField[], values: FormValues, labels: Record<string, string> = {}): { strategy?: RolloutStrategyInput; errors: FormErrors } {
  const errors: FormErrors = {};
  const waves = readWaves(wavesText);
  if ("error" in waves) errors.waves = waves.error;
  const form = readForm(
    fields.filter((f) => f.key !== "waves"),
    values,
    labels,
  );
  Object.assign(errors, form.errors);
  if (Object.keys(errors).length > 0) return { errors };
  const input = { ...form.params, waves: (waves as { waves: RolloutStrategy["waves"] }).waves };
  const parsed = RolloutStrategySchema.safeParse(input);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = issue.path.join(".") || "waves";
      errors[key] ??= issue.message;
    }
    return { errors };
  }
  return { strategy: input as RolloutStrategyInput, errors };
}
