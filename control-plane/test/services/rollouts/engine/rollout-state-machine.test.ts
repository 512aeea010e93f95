import { describe, expect, it } from "vitest";
import { RolloutStrategySchema, waveHash, type RolloutStrategyInput } from "@probepilot/shared";
import {
  deriveAgentState,
  evaluateRollout,
  rowOf,
  startWave,
  type AgentObservation,
  type AgentRow,
  type RolloutMachine,
} from "../../../../src/services/rollouts/engine/evaluate-rollout.ts";
import { planRollout } from "../../../../src/services/rollouts/plan-rollout.ts";

const T0 = 1_800_000_000_000;
const ROLLOUT = "rol_01hzzzzzzzzzzzzzzzzzzzzzzz";

/** A fleet of `n` agents over three strata. */
const fleet = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ id: `agt_${String(i).padStart(26, "0")}`, kernel: ["6.1", "5.15", "6.1"][i % 3]!, arch: ["x86_64", "x86_64", "aarch64"][i % 3]!, os: "debian" }));

function machine(agents: ReturnType<typeof fleet>, strategy: RolloutStrategyInput = {}): { m: RolloutMachine; rows: Map<string, AgentRow> } {
  const parsed = RolloutStrategySchema.parse(strategy);
  const plan = planRollout(ROLLOUT, parsed.waves, agents);
  const m: RolloutMachine = {
    id: ROLLOUT,
    state: "running",
    stateReason: null,
    strategy: parsed,
    currentWave: 0,
    phase: "gate",
    cuts: plan.cuts,
    canaryIds: plan.canary.filter((c) => !c.byHash).map((c) => c.agentId),
    waveTimes: plan.cuts.map(() => ({ startedAt: null, completedAt: null })),
    gateDeadline: null,
    bakeEndsAt: null,
    createdAt: T0,
    completedAt: null,
    health: null,
  };
  startWave(m, 0, T0);
  const rows = new Map<string, AgentRow>([...plan.waveOfAgent].map(([agentId, wave]) => [agentId, { agentId, wave, state: "pending", membership: "initial", error: null }]));
  return { m, rows };
}

/** What agents report: those in the stage run the probe (or fail, per `fails`). */
function reports(m: RolloutMachine, rows: Map<string, AgentRow>, opts: { fails?: Set<string>; offline?: Set<string>; absent?: boolean; cpu?: number } = {}) {
  const obs = new Map<string, AgentObservation>();
  for (const row of rows.values()) {
    const inStage = row.wave <= m.currentWave && m.state !== "rolling_back" && m.state !== "rolled_back";
    const failing = opts.fails?.has(row.agentId) ?? false;
    obs.set(row.agentId, {
      id: row.agentId,
      online: !opts.offline?.has(row.agentId),
      matches: true,
      revoked: false,
      firstSeenAt: T0 - 1000,
      probe:
        inStage && !opts.absent && !opts.offline?.has(row.agentId)
          ? {
              state: failing ? "failed" : "running",
              ...(failing ? { error: "simulated failure" } : {}),
              ...(opts.cpu !== undefined ? { cost: { kernelTimeNs: 0, kernelRunCount: 0, kernelCpuPercent: opts.cpu, loaderCpuPercent: 0, loaderRssBytes: 0, at: T0 } } : {}),
            }
          : null,
    });
  }
  return obs;
}

/** Apply one evaluation to the machine and rows (what the engine writes back). */
function step(m: RolloutMachine, rows: Map<string, AgentRow>, obs: Map<string, AgentObservation>, now: number) {
  const e = evaluateRollout(m, obs, rows, now);
  for (const c of e.rows) rows.set(c.agentId, rowOf(c));
  return { e, m: e.next };
}

describe("planRollout", () => {
  it("puts every stratum in the first wave and counts each agent in exactly one wave", () => {
    const agents = fleet(300);
    const plan = planRollout(ROLLOUT, [{ percent: 1 }, { percent: 10 }, { percent: 100 }], agents);
    expect(plan.canary.map((c) => `${c.stratum.kernel}/${c.stratum.arch}`).sort()).toEqual(["5.15/x86_64", "6.1/aarch64", "6.1/x86_64"]);
    const firstWave = [...plan.waveOfAgent].filter(([, w]) => w === 0).map(([id]) => id);
    for (const c of plan.canary) expect(firstWave).toContain(c.agentId);
    expect(plan.waves.at(-1)!.cumulative).toBe(300);
    expect(plan.waves.reduce((n, w) => n + w.count, 0)).toBe(300);
    // Hash-admitted members of wave 0 are exactly those under the 1% cut.
    const byHash = agents.filter((a) => waveHash(a.id, ROLLOUT) < 100).length;
    const explicit = plan.canary.filter((c) => !c.byHash).length;
    expect(plan.waves[0]!.count).toBe(byHash + explicit);
  });

  it("a count wave admits exactly that many agents, and cuts never shrink", () => {
    const agents = fleet(200);
    const plan = planRollout(ROLLOUT, [{ count: 7 }, { percent: 2 }, { count: 150 }, { percent: 100 }], agents);
    for (let i = 1; i < plan.cuts.length; i++) expect(plan.cuts[i]!).toBeGreaterThanOrEqual(plan.cuts[i - 1]!);
    const byHash = plan.canary.filter((c) => c.byHash).length;
    expect(plan.waves[0]!.count - (plan.canary.length - byHash)).toBe(7);
    expect(plan.waves[2]!.cumulative).toBeGreaterThanOrEqual(150);
  });
});

describe("deriveAgentState", () => {
  it("maps agent reports to rollout states", () => {
    expect(deriveAgentState("pending", { state: "running" }, "running", true)).toBe("applied");
    expect(deriveAgentState("verified", { state: "running" }, "running", true)).toBe("verified");
    expect(deriveAgentState("pending", { state: "applying" }, "running", true)).toBe("applying");
    expect(deriveAgentState("applied", { state: "failed", error: "x" }, "running", true)).toBe("failed");
    expect(deriveAgentState("pending", { state: "unsupported", reason: "no BTF" }, "running", true)).toBe("skipped");
    expect(deriveAgentState("applied", null, "rolling_back", true)).toBe("rolled_back");
    expect(deriveAgentState("failed", null, "rolled_back", true)).toBe("rolled_back");
    expect(deriveAgentState("pending", null, "rolling_back", true)).toBe("pending");
    expect(deriveAgentState("applied", null, "running", true)).toBe("pending");
  });
});

describe("evaluateRollout", () => {
  it("a clean rollout goes wave by wave (gate, bake) to completed, verifying every agent", () => {
    let { m, rows } = machine(fleet(120), { bakeSeconds: 10, waves: [{ percent: 10 }, { percent: 50 }, { percent: 100 }] });
    let now = T0;
    const actions: string[] = [];
    for (let guard = 0; guard < 20 && m.state === "running"; guard++) {
      now += 1000;
      const before = m.currentWave;
      const r = step(m, rows, reports(m, rows), now);
      m = r.m;
      actions.push(...r.e.events.map((e) => e.action));
      if (m.phase === "bake") {
        // Nothing moves before the bake ends…
        expect(step(m, rows, reports(m, rows), now + 9_000).m.currentWave).toBe(before);
        now += 10_000;
      }
    }
    expect(m.state).toBe("completed");
    expect(actions.filter((a) => a === "rollout.wave_started")).toHaveLength(2);
    expect(actions.at(-1)).toBe("rollout.completed");
    expect([...rows.values()].every((r) => r.state === "verified")).toBe(true);
  });

  it("a canary over the failure guard rolls back at once, and no later wave ever started", () => {
    const agents = fleet(300);
    let { m, rows } = machine(agents, { bakeSeconds: 0, waves: [{ percent: 10 }, { percent: 100 }] });
    const canary = [...rows.values()].filter((r) => r.wave === 0).map((r) => r.agentId);
    const fails = new Set(canary.filter((_, i) => i % 3 === 0)); // ~30 %
    let r = step(m, rows, reports(m, rows, { fails }), T0 + 500);
    m = r.m;
    expect(m.state).toBe("rolling_back");
    expect(m.currentWave).toBe(0);
    expect(r.e.stageChanged).toBe(true);
    expect(m.stateReason).toMatch(/wave 1\/2 failed: \d+ of \d+ agents failed \(\d+(\.\d)?%, max 5%\): simulated failure/);
    expect([...rows.values()].filter((x) => x.state !== "pending").every((x) => x.wave === 0)).toBe(true);
    // The agents drop the probe: rolled back, keeping their rows.
    r = step(m, rows, reports(m, rows, { absent: true }), T0 + 1500);
    m = r.m;
    expect(m.state).toBe("rolled_back");
    expect([...rows.values()].filter((x) => x.wave === 0).every((x) => x.state === "rolled_back")).toBe(true);
    expect([...rows.values()].filter((x) => x.wave > 0).every((x) => x.state === "pending")).toBe(true);
  });

  it("with onFailure=pause a failing wave pauses instead, keeping its stage", () => {
    let { m, rows } = machine(fleet(60), { onFailure: "pause", waves: [{ percent: 50 }, { percent: 100 }] });
    const fails = new Set([...rows.values()].filter((r) => r.wave === 0).slice(0, 10).map((r) => r.agentId));
    const r = step(m, rows, reports(m, rows, { fails }), T0 + 100);
    m = r.m;
    expect(m.state).toBe("paused");
    expect(r.e.stageChanged).toBe(false);
    expect(r.e.events.map((e) => e.action)).toEqual(["rollout.pause"]);
  });

  it("times the gate out when too few agents become healthy", () => {
    let { m, rows } = machine(fleet(60), { gate: { timeoutSeconds: 30, minHealthyPercent: 95, maxFailedPercent: 100 } });
    m = step(m, rows, reports(m, rows, { absent: true }), T0 + 29_000).m;
    expect(m.state).toBe("running");
    m = step(m, rows, reports(m, rows, { absent: true }), T0 + 30_000).m;
    expect(m.state).toBe("rolling_back");
    expect(m.stateReason).toMatch(/gate timed out after 30s: 0% of \d+ agents healthy \(need 95%\)/);
  });

  it("does not count offline agents against the gate, and waits for them when nobody is online", () => {
    const { m, rows } = machine(fleet(90), { bakeSeconds: 0, waves: [{ percent: 100 }] });
    const offline = new Set([...rows.keys()].slice(0, 5));
    const r = step(m, rows, reports(m, rows, { offline }), T0 + 100);
    expect(r.m.state).toBe("completed");
    const all = new Set(rows.keys());
    const { m: m2, rows: rows2 } = machine(fleet(9), { bakeSeconds: 0, waves: [{ percent: 100 }] });
    expect(step(m2, rows2, reports(m2, rows2, { offline: all }), T0 + 100).m.state).toBe("running");
  });

  it("fails a wave whose probe costs more than the overhead guard allows", () => {
    const { m, rows } = machine(fleet(30), { gate: { maxProbeCpuPercent: 2 } });
    const r = step(m, rows, reports(m, rows, { cpu: 3.5 }), T0 + 100);
    expect(r.m.state).toBe("rolling_back");
    expect(r.m.stateReason).toMatch(/costs 3.5% of a core on average \(max 2%\)/);
  });

  it("records agents that join mid-rollout by their hash, and shows agents whose labels stop matching", () => {
    let { m, rows } = machine(fleet(30), { waves: [{ percent: 100 }] });
    const newcomer = "agt_zzzzzzzzzzzzzzzzzzzzzzzzzz";
    const obs = reports(m, rows);
    obs.set(newcomer, { id: newcomer, online: true, matches: true, revoked: false, firstSeenAt: T0 + 5000, probe: { state: "running" } });
    const leaving = [...rows.keys()][0]!;
    obs.set(leaving, { ...obs.get(leaving)!, matches: false, probe: null });
    const r = step(m, rows, obs, T0 + 6000);
    m = r.m;
    expect(rows.get(newcomer)).toMatchObject({ membership: "joined", state: "applied", wave: 0 });
    expect(rows.get(leaving)).toMatchObject({ membership: "relabeled_out" });
  });

  it("counts a revoked agent as gone: marked revoked, not waited for by the gate, never joining", () => {
    let { m, rows } = machine(fleet(20), { waves: [{ percent: 100 }], bakeSeconds: 0 });
    const [gone, ...rest] = [...rows.keys()];
    const obs = reports(m, rows, { absent: true });
    // Every agent but the revoked one reports the probe running; the revoked one never will.
    for (const id of rest) obs.set(id, { ...obs.get(id)!, probe: { state: "running" } });
    obs.set(gone!, { ...obs.get(gone!)!, online: false, revoked: true, probe: null });
    const revokedNewcomer = "agt_zzzzzzzzzzzzzzzzzzzzzzzzzy";
    obs.set(revokedNewcomer, { id: revokedNewcomer, online: false, matches: true, revoked: true, firstSeenAt: T0 + 50, probe: null });
    m = step(m, rows, obs, T0 + 100).m;
    expect(rows.get(gone!)).toMatchObject({ membership: "revoked" });
    expect(rows.has(revokedNewcomer)).toBe(false);
    expect(m.state).toBe("completed");
  });

  it("a rollback is not held up by an agent whose labels stopped matching (it dropped the probe itself)", () => {
    let { m, rows } = machine(fleet(20), { waves: [{ percent: 100 }], bakeSeconds: 600 });
    m = step(m, rows, reports(m, rows), T0 + 100).m;
    const leaving = [...rows.keys()][0]!;
    const obs = reports(m, rows);
    obs.set(leaving, { ...obs.get(leaving)!, matches: false, probe: null });
    m = step(m, rows, obs, T0 + 200).m;
    expect(rows.get(leaving)).toMatchObject({ membership: "relabeled_out", state: "applied" });
    m.state = "rolling_back";
    m.gateDeadline = T0 + 60_000;
    const gone = reports(m, rows, { absent: true });
    gone.set(leaving, { ...gone.get(leaving)!, matches: false });
    m = step(m, rows, gone, T0 + 300).m;
    expect(m.state).toBe("rolled_back");
    expect(rows.get(leaving)!.state).toBe("rolled_back");
  });

  it("guards and gates the current wave's own members, not only the whole stage", () => {
    // Waves 50 % then 100 %: 9 failures among the ~30 agents of the second wave are ~30 % of
    // that wave but only ~15 % of the stage; with a 20 % guard only the wave's own share trips it.
    let { m, rows } = machine(fleet(60), { waves: [{ percent: 50 }, { percent: 100 }], bakeSeconds: 0, gate: { maxFailedPercent: 20 } });
    m = step(m, rows, reports(m, rows), T0 + 100).m;
    expect(m.currentWave).toBe(1);
    const second = [...rows.values()].filter((r) => r.wave === 1).map((r) => r.agentId);
    const r = step(m, rows, reports(m, rows, { fails: new Set(second.slice(0, 9)) }), T0 + 200);
    expect(r.m.state).toBe("rolling_back");
    expect(r.m.stateReason).toMatch(/wave 2\/2 failed: 9 of its \d+ agents failed/);
  });

  it("passes a wave whose agents are all unsupported instead of timing out on them", () => {
    const { m, rows } = machine(fleet(6), { bakeSeconds: 0, waves: [{ percent: 100 }] });
    const obs = reports(m, rows);
    for (const id of rows.keys()) obs.set(id, { ...obs.get(id)!, probe: { state: "unsupported", reason: "no BTF" } });
    expect(step(m, rows, obs, T0 + 100).m.state).toBe("completed");
  });

  it("reports unsupported agents as skipped (with the reason) and leaves them out of the gate", () => {
    const { m, rows } = machine(fleet(20), { bakeSeconds: 0, waves: [{ percent: 100 }] });
    const obs = reports(m, rows);
    const first = [...rows.keys()].slice(0, 4);
    for (const id of first) obs.set(id, { ...obs.get(id)!, probe: { state: "unsupported", reason: "no BTF" } });
    const r = step(m, rows, obs, T0 + 100);
    expect(r.m.state).toBe("completed");
    for (const id of first) expect(rows.get(id)).toMatchObject({ state: "skipped", error: "no BTF" });
  });
});
