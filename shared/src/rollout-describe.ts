import type { RolloutAgentCounts, RolloutAgentState, RolloutView } from "./rollout.ts";

/**
 * A rollout's progress in words and numbers, as the CLI (`rollout status`) and
 * the web app both show it: pure functions of a {@link RolloutView} (and of
 * `now`, for countdowns). Each client passes its own duration formatter (the
 * CLI prints `4m12s`, the web app `4m 12s`).
 */

/** Seconds as a duration for people (`4m12s`, `4m 12s`): each client has its own. */
export type FormatDuration = (seconds: number) => string;

/** The order agent states show in bars and count lists: healthy first, waiting last. */
export const ROLLOUT_AGENT_STATE_ORDER: readonly RolloutAgentState[] = ["verified", "applied", "applying", "failed", "rolled_back", "skipped", "pending"];

/** Agents running the version (the gate's "healthy", before and after verification). */
export const healthyCount = (c: RolloutAgentCounts) => c.applied + c.verified;

/** Agents with a row in any state. */
export const countsTotal = (c: RolloutAgentCounts) => ROLLOUT_AGENT_STATE_ORDER.reduce((sum, s) => sum + c[s], 0);

/**
 * A wave's agents per state, in {@link ROLLOUT_AGENT_STATE_ORDER}. Agents the
 * wave admits that have no row yet count as pending, so the values add up to
 * what the wave will hold (or to the rows, when agents joined later).
 */
export function waveStateValues(counts: RolloutAgentCounts, planned: number): number[] {
  const missing = Math.max(0, planned - countsTotal(counts));
  return ROLLOUT_AGENT_STATE_ORDER.map((s) => counts[s] + (s === "pending" ? missing : 0));
}

/** A percentage with at most one decimal, two significant digits below 1: `87%`, `2.5%`, `0.42%`. */
export function formatPercent(value: number): string {
  return `${value > 0 && value < 1 ? Number(value.toPrecision(2)) : Number(value.toFixed(1))}%`;
}

/**
 * The healthy share, rounded *down* to one decimal: a gate that needs 95% must
 * never read "95% healthy (need 95%)" while it is still waiting at 94.96%.
 */
export const formatHealthyPercent = (value: number) => `${Math.floor(value * 10) / 10}%`;

/** Seconds from `now` until an ISO time (0 once it has passed). */
export const secondsUntil = (at: string, now: number) => Math.max(0, Math.ceil((Date.parse(at) - now) / 1000));

/** `wave 2/4`: the current wave, numbered from 1, of all waves. */
export const waveOfTotal = (v: Pick<RolloutView, "currentWave" | "waves">) => `wave ${v.currentWave + 1}/${v.waves.length}`;

/**
 * Where a running rollout is, in words:
 * `wave 2/4 gate: 87% healthy of 120 (need 95%), times out in 4m12s`,
 * `wave 2/4 baking, next wave in 45s`, `wave 4/4 baking, completes in 45s`,
 * `wave 1/4 starting`. Other states are worded by each client.
 */
export function describeRunningPhase(v: RolloutView, now: number, formatDuration: FormatDuration): string {
  if (v.phase === "bake") {
    const left = v.bakeEndsAt ? formatDuration(secondsUntil(v.bakeEndsAt, now)) : "?";
    return `${waveOfTotal(v)} baking, ${v.currentWave + 1 === v.waves.length ? "completes" : "next wave"} in ${left}`;
  }
  if (v.phase === "gate") {
    const need = formatPercent(v.strategy.gate.minHealthyPercent);
    const left = v.gateDeadline ? secondsUntil(v.gateDeadline, now) : null;
    const timeout = left === null ? "no timeout" : left === 0 ? "times out now" : `times out in ${formatDuration(left)}`;
    if (v.health.members === 0) return `${waveOfTotal(v)} gate: no members reporting yet (need ${need} healthy), ${timeout}`;
    return `${waveOfTotal(v)} gate: ${formatHealthyPercent(v.health.healthyPercent)} healthy of ${v.health.members} (need ${need}), ${timeout}`;
  }
  return `${waveOfTotal(v)} starting`;
}

/** Seconds from one ISO time to another (a wave's or a rollout's run time). */
export const secondsBetween = (from: string, to: string) => (Date.parse(to) - Date.parse(from)) / 1000;
