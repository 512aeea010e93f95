import { describe, expect, it } from "vitest";
import { ROLLOUT_ACTIONS, ROLLOUT_ACTION_ALLOWED_FROM, ROLLOUT_STATES, emptyAgentCounts, type RolloutView } from "@probepilot/shared";
import {
  DEFAULT_WAVES_TEXT,
  STRATEGY_LABELS,
  actionBlockedReason,
  describeHistory,
  describePhase,
  describeStrategy,
  readStrategy,
  readWaves,
  strategyFields,
  waveParts,
  waveStatus,
} from "../../src/pages/rollouts/rollout-model.ts";
import { initialValues, leafFields } from "../../src/pages/probes/schema-form.ts";

const NOW = Date.parse("2026-01-01T12:00:00Z");
const iso = (offsetSec: number) => new Date(NOW + offsetSec * 1000).toISOString();

function view(over: Partial<RolloutView> = {}): RolloutView {
  const wave = (index: number, target: string) => ({ index, target, cutBasisPoints: null, planned: 0, counts: emptyAgentCounts(), startedAt: null, completedAt: null });
  return {
    id: "rol_0000000000aaaaaaaaaaaaaaaa",
    probe: { id: "prb_x", name: "tcp_flows", kind: "tcp_flows", version: 3, specHash: "sha256:abc" },
    selector: "env=prod",
    strategy: { waves: [{ percent: 10 }, { percent: 100 }], bakeSeconds: 60, gate: { minHealthyPercent: 95, timeoutSeconds: 300, maxFailedPercent: 5 }, onFailure: "rollback" },
    state: "running",
    stateReason: null,
    currentWave: 0,
    phase: "gate",
    gateDeadline: iso(252),
    bakeEndsAt: null,
    policyId: "pol_x",
    canary: [],
    waves: [wave(0, "10%"), wave(1, "100%")],
    totals: emptyAgentCounts(),
    matching: 20,
    offline: 0,
    membership: { initial: 20, joined: 0, relabeled_in: 0, relabeled_out: 0, revoked: 0 },
    health: { members: 0, healthyPercent: 0, failedPercent: 0, meanProbeCpuPercent: null },
    recentFailures: [],
    createdBy: "admin",
    createdAt: iso(-600),
    updatedAt: iso(-5),
    completedAt: null,
    ...over,
  };
}

describe("actions", () => {
  it("say why they are disabled", () => {
    expect(actionBlockedReason("pause", "running")).toBeNull();
    expect(actionBlockedReason("resume", "running")).toBe("Resume needs a paused rollout; this one is running");
    expect(actionBlockedReason("rollback", "rolling_back")).toBe("Roll back needs a running or paused or completed or aborted rollout; this one is rolling back");
    for (const state of ROLLOUT_STATES) for (const action of ROLLOUT_ACTIONS) expect(actionBlockedReason(action, state) === null).toBe(ROLLOUT_ACTION_ALLOWED_FROM[action].includes(state));
  });
});

describe("waves and phase", () => {
  it("counts agents without a row yet as pending, so the bar's total is what the wave holds", () => {
    const counts = { ...emptyAgentCounts(), verified: 3, applying: 1, failed: 1 };
    const { parts, total } = waveParts(counts, 10);
    expect(total).toBe(10);
    expect(parts.map((p) => [p.state, p.value])).toEqual([
      ["verified", 3],
      ["applied", 0],
      ["applying", 1],
      ["failed", 1],
      ["rolled_back", 0],
      ["skipped", 0],
      ["pending", 5],
    ]);
    // More rows than planned (agents joined later): nothing negative.
    expect(waveParts({ ...emptyAgentCounts(), applied: 4 }, 2).total).toBe(4);
  });

  it("describes the gate, the bake and the other states in words, with countdowns", () => {
    expect(describePhase(view(), NOW)).toBe("wave 1/2 gate: no members reporting yet (need 95% healthy), times out in 4m 12s");
    expect(describePhase(view({ health: { members: 40, healthyPercent: 94.96, failedPercent: 0, meanProbeCpuPercent: null } }), NOW)).toBe(
      "wave 1/2 gate: 94.9% healthy of 40 (need 95%), times out in 4m 12s",
    );
    expect(describePhase(view({ phase: "bake", bakeEndsAt: iso(45), gateDeadline: null }), NOW)).toBe("wave 1/2 baking, next wave in 45 s");
    expect(describePhase(view({ phase: "bake", currentWave: 1, bakeEndsAt: iso(-3) }), NOW)).toBe("wave 2/2 baking, completes in 0");
    expect(describePhase(view({ state: "paused" }), NOW)).toBe("at wave 1/2");
    expect(describePhase(view({ state: "completed", completedAt: iso(0) }), NOW)).toBe("took 10m");
  });

  it("gives each wave its status: done, the live countdown, or not started", () => {
    const v = view({
      currentWave: 1,
      phase: "bake",
      bakeEndsAt: iso(30),
      waves: [
        { index: 0, target: "10%", cutBasisPoints: 1000, planned: 2, counts: emptyAgentCounts(), startedAt: iso(-300), completedAt: iso(-180) },
        { index: 1, target: "100%", cutBasisPoints: 10000, planned: 18, counts: emptyAgentCounts(), startedAt: iso(-180), completedAt: null },
      ],
    });
    expect(waveStatus(v, v.waves[0]!, NOW)).toEqual({ marker: "done", text: "done in 2m" });
    expect(waveStatus(v, v.waves[1]!, NOW)).toEqual({ marker: "current", text: "baking: 30 s left" });
    const rolled = view({ state: "rolled_back", phase: null });
    expect(waveStatus(rolled, rolled.waves[0]!, NOW).marker).toBe("failed");
    expect(waveStatus(rolled, rolled.waves[1]!, NOW)).toEqual({ marker: "waiting", text: "not started" });
  });

  it("describes a strategy in one line", () => {
    expect(describeStrategy({ waves: [{ count: 5 }, { percent: 100 }], bakeSeconds: 0, gate: { minHealthyPercent: 90, timeoutSeconds: 120, maxFailedPercent: 2.5, maxProbeCpuPercent: 1 }, onFailure: "pause" })).toBe(
      "waves 5 → 100% · bake 0 · gate ≥90% healthy within 2m, ≤2.5% failed, probe CPU ≤1% of a core · on failure: pause",
    );
  });
});

describe("audit trail", () => {
  const entry = (action: string, details: Record<string, unknown>, actor = "engine") => ({ at: iso(0), actor, action, details });

  it("puts the engine's and operators' entries in words, waves numbered from 1", () => {
    expect(describeHistory(entry("rollout.wave_started", { wave: 1, cutBasisPoints: 1000 }))).toEqual({ title: "Wave 2 started", detail: "cut 10% of the hash space" });
    expect(describeHistory(entry("rollout.gate_passed", { wave: 0, members: 12, healthy: 12, healthyPercent: 100 }))).toEqual({ title: "Wave 1 gate passed", detail: "12 of 12 members healthy (100%)" });
    expect(describeHistory(entry("rollout.pause", { from: "running", to: "paused", wave: 0, reason: "looks odd" }, "admin"))).toEqual({ title: "Paused at wave 1", detail: "looks odd · running → paused" });
    expect(describeHistory(entry("rollout.rollback", { reason: "wave 1/4 failed: 3 of 5 agents failed", wave: 0, automatic: true }))).toEqual({
      title: "Rollback started automatically at wave 1",
      detail: "wave 1/4 failed: 3 of 5 agents failed",
    });
    expect(describeHistory(entry("rollout.create", { probe: "tcp_flows", version: 2, selector: "", matching: 7, waves: [{ target: "1", count: 1 }, { target: "100%", count: 6 }] }, "admin"))).toEqual({
      title: "Created: tcp_flows v2 on all agents",
      detail: "7 agents matched · waves 1 (1) → 100% (6)",
    });
    expect(describeHistory(entry("rollout.something_new", { wave: 2, note: "x y", n: 3 }))).toEqual({ title: "something new", detail: "wave=3 note=x y n=3" });
  });
});

describe("wizard strategy", () => {
  const fields = strategyFields();
  const defaults = initialValues(fields);

  it("is generated from the shared RolloutStrategySchema, with its bounds and defaults", () => {
    expect(leafFields(fields).map((f) => [f.key, f.kind])).toEqual([
      ["bakeSeconds", "integer"],
      ["gate.minHealthyPercent", "number"],
      ["gate.timeoutSeconds", "integer"],
      ["gate.maxFailedPercent", "number"],
      ["gate.maxProbeCpuPercent", "number"],
      ["onFailure", "enum"],
    ]);
    expect(defaults).toEqual({ bakeSeconds: "60", "gate.minHealthyPercent": "95", "gate.timeoutSeconds": "300", "gate.maxFailedPercent": "5", "gate.maxProbeCpuPercent": "", onFailure: "rollback" });
    expect(DEFAULT_WAVES_TEXT).toBe("1%, 10%, 50%, 100%");
    for (const f of leafFields(fields)) expect(STRATEGY_LABELS[f.key], f.key).toBeTruthy();
  });

  it("has labels that do not contain the wizard's other labels (browser tests find fields by label, as a substring)", () => {
    for (const label of Object.values(STRATEGY_LABELS)) for (const other of ["Probe", "Version", "Selector", "Waves"]) expect(label.toLowerCase()).not.toContain(other.toLowerCase());
    expect(STRATEGY_LABELS.bakeSeconds).toBe("Bake (seconds)");
    expect(STRATEGY_LABELS.onFailure).toBe("On failure");
  });

  it("reads the waves text with the shared parser, saying what is wrong", () => {
    expect(readWaves("1, 10%, 50%, 100%")).toEqual({ waves: [{ count: 1 }, { percent: 10 }, { percent: 50 }, { percent: 100 }] });
    expect(readWaves("10%, 5%")).toEqual({ error: 'waves "10%, 5%": waves must grow: 5% after 10%; for example 1%, 10%, 50%, 100% (shares of the matching agents) or 5, 50, 100%' });
    expect(readWaves("ten")).toHaveProperty("error", expect.stringContaining('wave 1 is "ten"'));
  });

  it("gives the strategy the server takes, or errors keyed by field", () => {
    expect(readStrategy("1, 100%", fields, { ...defaults, bakeSeconds: "0", onFailure: "pause", "gate.maxProbeCpuPercent": "2.5" }, STRATEGY_LABELS)).toEqual({
      strategy: { waves: [{ count: 1 }, { percent: 100 }], bakeSeconds: 0, gate: { minHealthyPercent: 95, timeoutSeconds: 300, maxFailedPercent: 5, maxProbeCpuPercent: 2.5 }, onFailure: "pause" },
      errors: {},
    });
    const bad = readStrategy("50%, 10%", fields, { ...defaults, bakeSeconds: "-1", "gate.timeoutSeconds": "0", "gate.maxProbeCpuPercent": "0" }, STRATEGY_LABELS);
    expect(bad.strategy).toBeUndefined();
    expect(bad.errors).toEqual({
      waves: expect.stringContaining("waves must grow: 10% after 50%"),
      bakeSeconds: "Bake (seconds) must be a whole number from 0 to 604800; -1 is below 0",
      "gate.timeoutSeconds": "Gate timeout (seconds) must be a whole number from 1 to 86400; 0 is below 1",
      "gate.maxProbeCpuPercent": "Max CPU (% of a core) must be a number above 0, at most 100; 0 is not above 0",
    });
  });
});
