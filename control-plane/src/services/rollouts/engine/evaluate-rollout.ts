import {
  waveOf,
  type ProbeStatus,
  type RolloutAgentState,
  type RolloutMembership,
  type RolloutState,
  type RolloutStrategy,
  type RolloutView,
  type WavePhase,
} from "@probepilot/shared";

/**
 * The rollout state machine, pure: given a rollout, what its agents report and the
 * per-agent rows as last written, it says which rows change, how the rollout moves
 * and what goes into the audit trail. The engine (rollout-engine.ts) feeds it from
 * Postgres and writes its answer back; unit tests feed it directly.
 */

/** The part of a rollout the state machine reads and moves. */
export type RolloutMachine = {
  id: string;
  state: RolloutState;
  stateReason: string | null;
  strategy: RolloutStrategy;
  currentWave: number;
  phase: WavePhase | null;
  /** Cut per wave, basis points (fixed at creation). */
  cuts: number[];
  /** Agents in the first wave whatever their hash (canary strata). */
  canaryIds: string[];
  waveTimes: { startedAt: string | null; completedAt: string | null }[];
  gateDeadline: number | null;
  bakeEndsAt: number | null;
  createdAt: number;
  completedAt: number | null;
  health: RolloutView["health"] | null;
};

/** What one agent reports now, as it concerns this rollout. */
export type AgentObservation = {
  id: string;
  online: boolean;
  /** The rollout's selector matches the agent's current labels. */
  matches: boolean;
  /** The agent was revoked (`agents.revoke`): it is gone for good, whatever its labels. */
  revoked: boolean;
  /** When the agent first enrolled (unix ms): after the rollout's creation means it joined mid-rollout. */
  firstSeenAt: number;
  /** The agent's status of the probe this rollout's policy asks for, if it runs it. */
  probe: Pick<ProbeStatus, "state" | "error" | "reason" | "cost"> | null;
};

/** One agent's row in the rollout. */
export type AgentRow = { agentId: string; wave: number; state: RolloutAgentState; membership: RolloutMembership; error: string | null };

export type RowChange = AgentRow & { from: RolloutAgentState | null };

/** The row a change leaves. */
export const rowOf = ({ agentId, wave, state, membership, error }: RowChange): AgentRow => ({ agentId, wave, state, membership, error });

export type AuditEvent = { action: string; details: Record<string, unknown> };

export type Evaluation = {
  rows: RowChange[];
  /** The rollout after this step (same object values when nothing moved). */
  next: RolloutMachine;
  /** Whether anything of the rollout itself changed (its row must be written). */
  changed: boolean;
  /** The policy must be rewritten (a new cut) or removed (rollback). */
  stageChanged: boolean;
  events: AuditEvent[];
};

/** Agent states that mean the probe is (or was being) put on the agent: what a rollback has to undo. */
const TOUCHED: readonly RolloutAgentState[] = ["applying", "applied", "verified", "failed"];

const pct = (n: number, of: number) => (of === 0 ? 0 : (100 * n) / of);
const round1 = (x: number) => Math.round(x * 10) / 10;

/** The row state an agent's report implies. */
export function deriveAgentState(prev: RolloutAgentState, probe: AgentObservation["probe"], rolloutState: RolloutState, inStage: boolean): RolloutAgentState {
  if (probe) {
    switch (probe.state) {
      case "running":
      case "verified":
        return prev === "verified" ? "verified" : "applied";
      case "failed":
        return "failed";
      case "unsupported":
        return "skipped";
      default:
        return "applying";
    }
  }
  // The agent does not run this rollout's version (any more).
  if ((rolloutState === "rolling_back" || rolloutState === "rolled_back") && TOUCHED.includes(prev)) return "rolled_back";
  if (prev === "rolled_back") return "rolled_back";
  if (prev === "skipped" && inStage) return "skipped";
  return "pending";
}

/** The per-agent rows after this round of reports: new rows for agents that came in, states that moved. */
export function evaluateRows(r: RolloutMachine, observations: Iterable<AgentObservation>, rows: ReadonlyMap<string, AgentRow>): RowChange[] {
  const changes: RowChange[] = [];
  for (const obs of observations) {
    const prev = rows.get(obs.id);
    if (!prev && (!obs.matches || obs.revoked)) continue;
    const wave = prev?.wave ?? waveOf(obs.id, r.id, r.cuts, r.canaryIds);
    if (wave < 0) continue; // beyond the last wave's cut (count waves): never part of this rollout
    let membership: RolloutMembership;
    if (!prev) membership = obs.firstSeenAt > r.createdAt ? "joined" : "relabeled_in";
    else if (obs.revoked) membership = "revoked";
    else if (!obs.matches) membership = "relabeled_out";
    else membership = prev.membership === "relabeled_out" ? "relabeled_in" : prev.membership;
    const inStage = wave <= r.currentWave;
    // An agent whose labels no longer match drops the probe by itself: its row keeps the last
    // state it reached — except in a rollback, where having dropped it is what is asked.
    const rollingBack = r.state === "rolling_back" || r.state === "rolled_back";
    const state =
      obs.matches || !prev ? deriveAgentState(prev?.state ?? "pending", obs.probe, r.state, inStage)
      : obs.probe ? deriveAgentState(prev.state, obs.probe, r.state, inStage)
      : rollingBack && TOUCHED.includes(prev.state) ? "rolled_back"
      : prev.state;
    // A failed agent's error stays on its row after a rollback: it is why the canary failed.
    const error =
      state === "failed" ? (obs.probe?.error ?? prev?.error ?? null)
      : state === "skipped" ? (obs.probe?.reason ?? prev?.error ?? null)
      : state === "rolled_back" ? (prev?.error ?? null)
      : null;
    if (prev && prev.state === state && prev.membership === membership && prev.error === error) continue;
    changes.push({ agentId: obs.id, wave, state, membership, error, from: prev?.state ?? null });
  }
  return changes;
}

/** Health of the stage: the members the gate counts and how they are doing. */
export function stageHealth(r: RolloutMachine, rows: Iterable<AgentRow>, online: (agentId: string) => boolean, cpuOf: (agentId: string) => number | null) {
  let members = 0;
  let healthy = 0;
  let failed = 0;
  let cpuSum = 0;
  let cpuCount = 0;
  let stageRows = 0;
  let firstError: string | null = null;
  // The current wave's own members too: over the whole stage, 10 % failures among a last
  // wave of 5,000 are 5 % of 10,000 and would slip under a 5 % guard.
  const wave = { rows: 0, members: 0, healthy: 0, failed: 0 };
  for (const row of rows) {
    // Relabeled-out agents dropped the probe; revoked ones are gone: neither is waited for nor counted.
    if (row.wave > r.currentWave || row.membership === "relabeled_out" || row.membership === "revoked") continue;
    // Skipped (unsupported) and rolled-back agents are not waited for: a wave of only those has nothing to gate.
    if (row.state === "skipped" || row.state === "rolled_back") continue;
    stageRows++;
    const own = row.wave === r.currentWave;
    if (own) wave.rows++;
    const settled = row.state === "applied" || row.state === "verified" || row.state === "failed";
    // An offline agent cannot apply: it is not counted until it reports (it gets the stage when it reconnects).
    if (!settled && !online(row.agentId)) continue;
    members++;
    if (own) wave.members++;
    if (row.state === "applied" || row.state === "verified") {
      healthy++;
      if (own) wave.healthy++;
      const cpu = cpuOf(row.agentId);
      if (cpu !== null) {
        cpuSum += cpu;
        cpuCount++;
      }
    } else if (row.state === "failed") {
      failed++;
      if (own) wave.failed++;
      firstError ??= row.error;
    }
  }
  return {
    wave,
    stageRows,
    members,
    healthy,
    failed,
    firstError,
    health: { members, healthyPercent: round1(pct(healthy, members)), failedPercent: round1(pct(failed, members)), meanProbeCpuPercent: cpuCount ? round1(cpuSum / cpuCount) : null },
  };
}

/**
 * One step of the rollout: apply the row changes, then move the rollout if its
 * gate, bake, guards or rollback say so. Pure: `now` is passed in.
 */
export function evaluateRollout(
  r: RolloutMachine,
  observations: ReadonlyMap<string, AgentObservation>,
  rows: ReadonlyMap<string, AgentRow>,
  now: number,
): Evaluation {
  const rowChanges = evaluateRows(r, observations.values(), rows);
  const current = new Map(rows);
  for (const c of rowChanges) current.set(c.agentId, rowOf(c));

  const next: RolloutMachine = { ...r, waveTimes: r.waveTimes.map((w) => ({ ...w })) };
  const events: AuditEvent[] = [];
  let stageChanged = false;
  const online = (id: string) => observations.get(id)?.online ?? false;
  const cpuOf = (id: string) => {
    const cost = observations.get(id)?.probe?.cost;
    return cost ? cost.kernelCpuPercent + cost.loaderCpuPercent : null;
  };
  const { wave, stageRows, members, healthy, failed, firstError, health } = stageHealth(next, current.values(), online, cpuOf);
  next.health = health;
  const gate = r.strategy.gate;
  const waveName = `wave ${r.currentWave + 1}/${r.cuts.length}`;

  const fail = (reason: string) => {
    if (r.strategy.onFailure === "rollback") {
      startRollback(next, reason, now);
      stageChanged = true;
      events.push({ action: "rollout.rollback", details: { reason, wave: r.currentWave, automatic: true } });
    } else {
      next.state = "paused";
      next.stateReason = reason;
      events.push({ action: "rollout.pause", details: { reason, wave: r.currentWave, automatic: true } });
    }
  };
  const guards = (): string | null => {
    if (members > 0 && pct(failed, members) > gate.maxFailedPercent) {
      return `${waveName} failed: ${failed} of ${members} agents failed (${round1(pct(failed, members))}%, max ${gate.maxFailedPercent}%)${firstError ? `: ${firstError}` : ""}`;
    }
    if (wave.members > 0 && pct(wave.failed, wave.members) > gate.maxFailedPercent) {
      return `${waveName} failed: ${wave.failed} of its ${wave.members} agents failed (${round1(pct(wave.failed, wave.members))}%, max ${gate.maxFailedPercent}%)${firstError ? `: ${firstError}` : ""}`;
    }
    if (gate.maxProbeCpuPercent !== undefined && health.meanProbeCpuPercent !== null && health.meanProbeCpuPercent > gate.maxProbeCpuPercent) {
      return `${waveName} failed: the probe costs ${health.meanProbeCpuPercent}% of a core on average (max ${gate.maxProbeCpuPercent}%)`;
    }
    return null;
  };

  if (r.state === "running") {
    const guardFailure = guards();
    if (guardFailure) fail(guardFailure);
    else if (r.phase === "gate") {
      // A wave with no agent to wait for passes; one whose agents are all offline waits for them.
      // The stage as a whole and the wave's own members (when it has any) must both be healthy enough.
      const waveHealthy = wave.rows === 0 || (wave.members > 0 && pct(wave.healthy, wave.members) >= gate.minHealthyPercent);
      const passed = stageRows === 0 || (members > 0 && pct(healthy, members) >= gate.minHealthyPercent && waveHealthy);
      if (passed) {
        events.push({ action: "rollout.gate_passed", details: { wave: r.currentWave, members, healthy, healthyPercent: health.healthyPercent } });
        if (r.strategy.bakeSeconds > 0) {
          next.phase = "bake";
          next.bakeEndsAt = now + r.strategy.bakeSeconds * 1000;
        } else stageChanged = completeWave(next, current, rowChanges, events, now) || stageChanged;
      } else if (r.gateDeadline !== null && now >= r.gateDeadline) {
        fail(
          members === 0
            ? `${waveName} gate timed out after ${gate.timeoutSeconds}s: none of its ${stageRows} agents is online`
            : `${waveName} gate timed out after ${gate.timeoutSeconds}s: ${health.healthyPercent}% of ${members} agents healthy (need ${gate.minHealthyPercent}%)`,
        );
      }
    } else if (r.phase === "bake" && r.bakeEndsAt !== null && now >= r.bakeEndsAt) {
      stageChanged = completeWave(next, current, rowChanges, events, now) || stageChanged;
    }
  } else if (r.state === "rolling_back") {
    let waiting = 0;
    for (const row of current.values()) if (TOUCHED.includes(row.state) && online(row.agentId)) waiting++;
    let offlineUnconfirmed = 0;
    for (const row of current.values()) if (TOUCHED.includes(row.state) && !online(row.agentId)) offlineUnconfirmed++;
    const timedOut = r.gateDeadline !== null && now >= r.gateDeadline;
    if (waiting === 0 || timedOut) {
      next.state = "rolled_back";
      next.completedAt = now;
      next.gateDeadline = null;
      const unconfirmed = waiting + offlineUnconfirmed;
      const note = unconfirmed > 0 ? ` (${unconfirmed} agents did not confirm: ${offlineUnconfirmed} offline, they drop it when they reconnect)` : "";
      events.push({ action: "rollout.rolled_back", details: { reason: r.stateReason, unconfirmed, timedOut } });
      next.stateReason = `${r.stateReason ?? "rolled back"}${note}`;
    }
  }

  const changed =
    next.state !== r.state ||
    next.currentWave !== r.currentWave ||
    next.phase !== r.phase ||
    next.bakeEndsAt !== r.bakeEndsAt ||
    next.gateDeadline !== r.gateDeadline ||
    next.stateReason !== r.stateReason ||
    !sameHealth(next.health, r.health);
  return { rows: rowChanges, next, changed, stageChanged, events };
}

/** Field by field: the stored copy comes back from jsonb with its keys in another order. */
function sameHealth(a: RolloutMachine["health"], b: RolloutMachine["health"]): boolean {
  if (!a || !b) return a === b;
  return a.members === b.members && a.healthyPercent === b.healthyPercent && a.failedPercent === b.failedPercent && a.meanProbeCpuPercent === b.meanProbeCpuPercent;
}

/** Enter `rolling_back`: the policy goes, and the affected agents have until the gate timeout to confirm. */
export function startRollback(r: RolloutMachine, reason: string, now: number): void {
  r.state = "rolling_back";
  r.stateReason = reason;
  r.phase = null;
  r.bakeEndsAt = null;
  r.gateDeadline = now + r.strategy.gate.timeoutSeconds * 1000;
}

/**
 * The current wave is done: its healthy members are verified; the next wave
 * starts (a new cut: the policy changes) or, after the last, the rollout completes.
 * Returns whether the stage changed.
 */
function completeWave(r: RolloutMachine, current: Map<string, AgentRow>, rowChanges: RowChange[], events: AuditEvent[], now: number): boolean {
  const verifiedNow: string[] = [];
  for (const row of current.values()) {
    if (row.wave <= r.currentWave && row.state === "applied") {
      const verified = { ...row, state: "verified" as const };
      current.set(row.agentId, verified);
      const pending = rowChanges.findIndex((c) => c.agentId === row.agentId);
      if (pending >= 0) rowChanges[pending] = { ...rowChanges[pending]!, state: "verified" };
      else rowChanges.push({ ...verified, from: "applied" });
      verifiedNow.push(row.agentId);
    }
  }
  const iso = new Date(now).toISOString();
  r.waveTimes[r.currentWave]!.completedAt = iso;
  events.push({ action: "rollout.wave_completed", details: { wave: r.currentWave, verified: verifiedNow.length } });
  r.bakeEndsAt = null;
  if (r.currentWave >= r.cuts.length - 1) {
    r.state = "completed";
    r.stateReason = null;
    r.phase = null;
    r.gateDeadline = null;
    r.completedAt = now;
    events.push({ action: "rollout.completed", details: { waves: r.cuts.length } });
    return false;
  }
  startWave(r, r.currentWave + 1, now);
  events.push({ action: "rollout.wave_started", details: { wave: r.currentWave, cutBasisPoints: r.cuts[r.currentWave] } });
  return true;
}

/** Make `wave` the current one, waiting for its gate. */
export function startWave(r: RolloutMachine, wave: number, now: number): void {
  r.currentWave = wave;
  r.phase = "gate";
  r.gateDeadline = now + r.strategy.gate.timeoutSeconds * 1000;
  r.bakeEndsAt = null;
  r.waveTimes[wave]!.startedAt = new Date(now).toISOString();
}
