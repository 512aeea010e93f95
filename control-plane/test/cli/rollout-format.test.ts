import { describe, expect, it } from "vitest";
import { emptyAgentCounts, type RolloutAgentCounts, type RolloutPreview, type RolloutView } from "@probepilot/shared";
import {
  barSegments,
  fitLine,
  formatDuration,
  wrapLine,
  paint,
  progressBar,
  renderHistory,
  renderPreview,
  renderRolloutAgents,
  renderRolloutList,
  renderRolloutStatus,
  renderStateLine,
  renderWatchLine,
  stripAnsi,
  visibleWidth,
} from "../../src/cli/rollout-format.ts";
import { parsePercentFlag, parseProbeRef, parseWaveFlag, parseWavesFlag, strategyFromFlags } from "../../src/cli/commands/rollout.ts";
import { UsageError } from "../../src/cli/command.ts";
import { runCli } from "../../src/cli/main.ts";

const NOW = Date.parse("2026-03-01T12:00:00Z");
const at = (secondsAgo: number) => new Date(NOW - secondsAgo * 1000).toISOString();
const counts = (c: Partial<RolloutAgentCounts>): RolloutAgentCounts => ({ ...emptyAgentCounts(), ...c });

const STRATEGY: RolloutView["strategy"] = {
  waves: [{ percent: 1 }, { percent: 10 }, { percent: 50 }, { percent: 100 }],
  bakeSeconds: 60,
  gate: { minHealthyPercent: 95, timeoutSeconds: 300, maxFailedPercent: 5, maxProbeCpuPercent: 2 },
  onFailure: "rollback",
};

/** A rollout waiting on wave 2's gate: wave 1 done, 2 failures in wave 2, an agent relabeled in. */
function runningView(): RolloutView {
  return {
    id: "rol_running01",
    probe: { id: "prb_1", name: "tcp_flows", kind: "tcp_flows", version: 3, specHash: "9f2c4e1a7b3d5f60aa" },
    selector: "env=staging,region in (eu,us)",
    strategy: STRATEGY,
    state: "running",
    stateReason: null,
    currentWave: 1,
    phase: "gate",
    gateDeadline: new Date(NOW + 252_000).toISOString(),
    bakeEndsAt: null,
    policyId: "pol_1",
    canary: [
      { stratum: { kernel: "6.1.0-18-amd64", arch: "x86_64", os: "debian" }, agentId: "agt_canary1", byHash: true },
      { stratum: { kernel: "5.15.0-91", arch: "arm64", os: "ubuntu" }, agentId: "agt_canary2", byHash: false },
    ],
    waves: [
      { index: 0, target: "1%", cutBasisPoints: 100, planned: 5, counts: counts({ verified: 5 }), startedAt: at(600), completedAt: at(470) },
      { index: 1, target: "10%", cutBasisPoints: 1000, planned: 37, counts: counts({ applied: 28, failed: 2 }), startedAt: at(48), completedAt: null },
      { index: 2, target: "50%", cutBasisPoints: 5000, planned: 164, counts: counts({}), startedAt: null, completedAt: null },
      { index: 3, target: "100%", cutBasisPoints: 10000, planned: 206, counts: counts({}), startedAt: null, completedAt: null },
    ],
    totals: counts({ verified: 5, applied: 28, failed: 2 }),
    matching: 412,
    offline: 3,
    membership: { initial: 40, joined: 0, relabeled_in: 1, relabeled_out: 0, revoked: 0 },
    health: { members: 35, healthyPercent: 94.96, failedPercent: 5.7, meanProbeCpuPercent: 0.42 },
    recentFailures: [{ agentId: "agt_bad1", hostname: "web-12", error: "load failed: permission denied\nverifier log: …", at: at(30) }],
    createdBy: "alice",
    createdAt: at(720),
    updatedAt: at(3),
    completedAt: null,
  };
}

/** A canary that failed its gate and was rolled back by itself. */
function rolledBackView(): RolloutView {
  return {
    ...runningView(),
    id: "rol_failed001",
    state: "rolled_back",
    stateReason: "wave 1 gate failed: 9 of 30 agents failed (30%, max 5%): simulated failure: program rejected by the verifier",
    currentWave: 0,
    phase: null,
    gateDeadline: null,
    canary: [],
    waves: [
      { index: 0, target: "10%", cutBasisPoints: 1000, planned: 30, counts: counts({ rolled_back: 21, failed: 9 }), startedAt: at(300), completedAt: null },
      { index: 1, target: "100%", cutBasisPoints: 10000, planned: 270, counts: counts({}), startedAt: null, completedAt: null },
    ],
    strategy: { ...STRATEGY, waves: [{ percent: 10 }, { percent: 100 }] },
    totals: counts({ rolled_back: 21, failed: 9 }),
    matching: 300,
    offline: 0,
    membership: { initial: 30, joined: 0, relabeled_in: 0, relabeled_out: 0, revoked: 0 },
    health: { members: 30, healthyPercent: 70, failedPercent: 30, meanProbeCpuPercent: null },
    recentFailures: [
      { agentId: "agt_f1", hostname: "db-1", error: "simulated failure: program rejected by the verifier", at: at(240) },
      { agentId: "agt_f2", hostname: "db-22", error: "simulated failure: program rejected by the verifier", at: at(250) },
    ],
    completedAt: at(200),
  };
}

describe("barSegments", () => {
  it("adds up to the width exactly", () => {
    for (const values of [[1, 1, 1], [5, 0, 32], [199, 1], [3, 3, 3, 3, 3, 3, 3], [0, 0, 7]]) {
      for (const width of [20, 23, 30, 57]) expect(barSegments(values, width).reduce((a, b) => a + b, 0)).toBe(width);
    }
  });
  it("is proportional", () => expect(barSegments([50, 25, 25], 20)).toEqual([10, 5, 5]));
  it("gives every non-zero value a cell, taken from the largest", () => {
    expect(barSegments([4998, 1, 1], 20)).toEqual([18, 1, 1]);
    expect(barSegments([199, 1], 20)).toEqual([19, 1]);
  });
  it("is all zeros when there is nothing to show", () => expect(barSegments([0, 0], 20)).toEqual([0, 0]));
});

describe("progressBar", () => {
  it("fills the wave's planned agents, with a glyph per state and pending for the rest", () => {
    const bar = progressBar(counts({ verified: 10, failed: 2 }), 20, 20, paint(false));
    expect(bar).toBe("██████████╳╳········");
  });
  it("is colored per state only when asked", () => {
    const bar = progressBar(counts({ applied: 1, failed: 1 }), 2, 20, paint(true));
    expect(bar).toContain("\x1b[32m");
    expect(bar).toContain("\x1b[31m");
    expect(stripAnsi(bar)).toBe(`${"▓".repeat(10)}${"╳".repeat(10)}`);
  });
  it("an empty wave is all pending", () => expect(progressBar(counts({}), 0, 20, paint(false))).toBe("·".repeat(20)));
});

describe("formatting helpers", () => {
  it.each([
    [0, "0s"],
    [45, "45s"],
    [60, "1m"],
    [252, "4m12s"],
    [305, "5m05s"],
    [3900, "1h05m"],
    [7200, "2h"],
    [183_600, "2d3h"],
    [-3, "0s"],
  ])("formatDuration(%i) = %s", (s, text) => expect(formatDuration(s)).toBe(text));
  it("wrapLine breaks at spaces with a hanging indent", () => {
    expect(wrapLine("state     rolled back: wave 1 gate failed: 9 of 30", 30, 10)).toEqual(["state     rolled back: wave 1", "          gate failed: 9 of 30"]);
    expect(wrapLine("short", 30, 10)).toEqual(["short"]);
  });
  it("fitLine cuts by visible width and keeps escapes balanced", () => {
    const p = paint(true);
    const line = `${p.red("abcdef")}ghij`;
    const cut = fitLine(line, 5);
    expect(stripAnsi(cut)).toBe("abcd…");
    expect(cut.endsWith("\x1b[0m")).toBe(true);
    expect(fitLine("short", 10)).toBe("short");
  });
});

describe("renderRolloutStatus", () => {
  it("shows the gate, the waves with bars and counts, failures and canary strata", () => {
    const out = renderRolloutStatus(runningView(), { color: false, now: NOW });
    expect(out).not.toMatch(/\x1b/);
    const lines = out.split("\n");
    expect(lines[0]).toBe("rollout rol_running01  tcp_flows v3 spec 9f2c4e1a7b3d  on env=staging,region in (eu,us)");
    // Rounded down: 94.96% must not read as the 95% the gate needs.
    expect(lines[1]).toBe("state     running · wave 2/4 gate: 94.9% healthy of 35 (need 95%), times out in 4m12s");
    expect(out).toContain("strategy  waves 1% → 10% → 50% → 100% · bake 1m · gate ≥95% healthy within 5m, ≤5% failed, probe cpu ≤2% · on failure: roll back");
    expect(out).toContain("agents    412 match · 35 in the rollout (3 offline, not counted by the gate) · relabeled in 1");
    expect(out).toContain("health    94.9% healthy · 5.7% failed · probe cpu 0.42% of a core (mean) · of 35 members");
    const wave1 = lines.find((l) => l.includes("wave 1"))!;
    const wave2 = lines.find((l) => l.includes("wave 2 "))!;
    expect(wave1).toMatch(/^ {2}✓ wave 1 {2}1% {4}█{30} {4}5\/5 100% {2}verified 5 +done in 2m10s$/);
    expect(wave2).toMatch(/^ {2}▸ wave 2 {2}10% {3}▓+╳+·+ {2}28\/37 {2}75% {2}applied 28 · failed 2 {2}gate, 4m12s left$/);
    // Columns line up: the bars start at the same column on every wave row.
    const waveRows = lines.filter((l) => /^ {2}. wave \d/.test(l));
    expect(new Set(waveRows.map((l) => l.search(/[█▓▒╳↺░·]/))).size).toBe(1);
    expect(out).toContain("█ verified  ▓ applied  ╳ failed  · pending");
    expect(out).toMatch(/recent failures \(2 agents failed now; `rollout status rol_running01 --state failed` lists them\)\n {2}30s ago {2}web-12 {2}agt_bad1 {2}load failed: permission denied$/m);
    expect(out).toContain("canary    2 strata (kernel arch os) in wave 1, 1 added so that every stratum is tried first");
    expect(out).toMatch(/ {2}5\.15\.0-91 arm64 ubuntu {8}agt_canary2 {2}added/);
  });

  it("says why a rollout was rolled back, where, and which agents failed", () => {
    const out = renderRolloutStatus(rolledBackView(), { color: false, now: NOW });
    expect(out).toContain("state     rolled back: wave 1 gate failed: 9 of 30 agents failed (30%, max 5%): simulated failure: program rejected by the verifier");
    expect(out).toMatch(/^ {2}✗ wave 1 {2}10% {3}╳{9}↺{21} {3}0\/30 0% {2}failed 9 · rolled back 21 {2}started 5m ago$/m);
    expect(out).toMatch(/^ {4}wave 2 {2}100% {2}·{30} {2}0\/270 0%$/m);
    expect(out).toContain("█ verified  ▓ applied  ╳ failed  ↺ rolled back  · pending");
    expect(out).toContain("health    70% healthy · 30% failed · of 30 members");
    expect(out).toMatch(/4m ago {2}db-1 {3}agt_f1 {2}simulated failure/);
    expect(renderStateLine(rolledBackView(), { color: true, now: NOW })).toMatch(/^\x1b\[1m\x1b\[31mrolled back\x1b\[39m\x1b\[22m: wave 1 gate failed/);
  });

  it("fits the terminal width: wider bars on wide terminals, no line longer than it", () => {
    const wide = renderRolloutStatus(runningView(), { color: true, now: NOW, width: 160 });
    const narrow = renderRolloutStatus(runningView(), { color: true, now: NOW, width: 70 });
    const barWidth = (out: string) => stripAnsi(out.split("\n").find((l) => stripAnsi(l).includes("✓ wave 1"))!).match(/█+/)![0].length;
    expect(barWidth(wide)).toBe(50);
    expect(barWidth(narrow)).toBe(22);
    for (const line of narrow.split("\n")) expect(visibleWidth(line)).toBeLessThanOrEqual(70);
    // Heading lines wrap under their value rather than lose their end.
    expect(stripAnsi(narrow)).toContain("state     running · wave 2/4 gate: 94.9% healthy of 35 (need 95%),\n          times out in 4m12s");
    // Too narrow for bar and counts on one line: the counts go under the bar.
    expect(stripAnsi(narrow)).toMatch(/28\/37 {2}75% {2}gate, 4m12s left\n {18}applied 28 · failed 2/);
  });

  it("describes baking, pausing and completion", () => {
    const v = runningView();
    expect(renderStateLine({ ...v, phase: "bake", bakeEndsAt: new Date(NOW + 45_000).toISOString() }, { color: false, now: NOW })).toBe("running · wave 2/4 baking, next wave in 45s");
    expect(renderStateLine({ ...v, currentWave: 3, phase: "bake", bakeEndsAt: new Date(NOW + 45_000).toISOString() }, { color: false, now: NOW })).toBe("running · wave 4/4 baking, completes in 45s");
    expect(renderStateLine({ ...v, state: "paused", stateReason: "paused by alice: checking dashboards" }, { color: false, now: NOW })).toBe("paused at wave 2/4: paused by alice: checking dashboards");
    expect(renderStateLine({ ...v, state: "completed", completedAt: at(180) }, { color: false, now: NOW })).toBe("completed 3m ago, took 9m");
    expect(renderStateLine({ ...v, health: { ...v.health, members: 0 } }, { color: false, now: NOW })).toBe("running · wave 2/4 gate: no members reporting yet (need 95% healthy), times out in 4m12s");
  });

  it("prints one compact line per change for logs", () => {
    expect(renderWatchLine(runningView(), NOW)).toBe(
      "2026-03-01T12:00:00Z  rol_running01  running · wave 2/4 gate: 94.9% healthy of 35 (need 95%), times out in 4m12s  |  verified 5 · applied 28 · failed 2",
    );
  });
});

describe("renderPreview", () => {
  const preview: RolloutPreview = {
    rolloutId: "rol_preview01",
    probe: { id: "prb_1", name: "tcp_flows", kind: "tcp_flows", version: 3, specHash: "9f2c4e1a7b3d5f60aa" },
    selector: "env=staging",
    matching: 412,
    waves: [
      { index: 0, target: "1%", cutBasisPoints: 100, count: 6, cumulative: 6 },
      { index: 1, target: "10%", cutBasisPoints: 1000, count: 36, cumulative: 42 },
      { index: 2, target: "100%", cutBasisPoints: 10000, count: 370, cumulative: 412 },
    ],
    canary: [{ stratum: { kernel: "5.15.0-91", arch: "arm64", os: "ubuntu" }, agentId: "agt_canary2", byHash: false }],
    blockedBy: null,
  };
  it("lists the agents per wave and the canary strata", () => {
    expect(renderPreview(preview)).toBe(
      [
        "rollout rol_preview01 (preview): tcp_flows v3 spec 9f2c4e1a7b3d on env=staging",
        "412 agents match",
        "",
        "  WAVE    TARGET  AGENTS  CUMULATIVE  SHARE",
        "  wave 1  1%      6       6           1.5%",
        "  wave 2  10%     36      42          10.2%",
        "  wave 3  100%    370     412         100%",
        "",
        "canary: 1 stratum (kernel arch os); wave 1 also takes 1 agent so that every stratum is tried first",
        "  5.15.0-91 arm64 ubuntu  agt_canary2  added",
      ].join("\n"),
    );
  });
  it("says when nothing matches and when another rollout blocks it", () => {
    const out = renderPreview({ ...preview, matching: 0, waves: [], canary: [], blockedBy: "rol_other" });
    expect(out).toContain(`no agents match "env=staging": nothing would be rolled out`);
    expect(out).toContain("blocked: tcp_flows is already being rolled out by rol_other");
  });
});

describe("list, agents, history tables", () => {
  it("renderRolloutList", () => {
    const lines = renderRolloutList([runningView(), rolledBackView()], NOW).split("\n");
    expect(lines[0]).toMatch(/^ID +PROBE +SELECTOR +STATE +WAVE +HEALTHY +FAILED +UPDATED$/);
    expect(lines[1]).toMatch(/^rol_running01 +tcp_flows v3 +env=staging,region in \(eu,us\) +running +2\/4 gate +33\/412 +2 +3s ago$/);
    expect(lines[2]).toMatch(/rolled back +1\/2 +0\/300 +9 +3s ago$/);
    expect(renderRolloutList([], NOW)).toMatch(/^no rollouts yet/);
  });
  it("renderRolloutAgents numbers waves from 1 and shows the error's first line", () => {
    const out = renderRolloutAgents(
      [{ agentId: "agt_1", hostname: "web-1", wave: 0, state: "failed", membership: "relabeled_in", online: true, error: "load failed\nverifier: …", attemptedVersion: 3, updatedAt: at(5) }],
      NOW,
    );
    expect(out.split("\n")[1]).toMatch(/^agt_1 +web-1 +1 +failed +v3 +yes +relabeled in +5s ago +load failed$/);
  });
  it("renderHistory", () => {
    const out = renderHistory([
      { at: at(60), actor: "alice", action: "rollout.create", details: { waves: ["1%", "100%"] } },
      { at: at(10), actor: "engine", action: "rollout.rollback", details: { reason: "wave 1 gate failed", wave: 0 } },
    ]);
    expect(out.split("\n")).toEqual([
      "TIME                  ACTOR   ACTION            DETAILS",
      `2026-03-01T11:59:00Z  alice   rollout.create    waves=["1%","100%"]`,
      `2026-03-01T11:59:50Z  engine  rollout.rollback  reason="wave 1 gate failed" wave=1`,
    ]);
  });
});

describe("rollout flags", () => {
  it("parseProbeRef", () => {
    expect(parseProbeRef("tcp_flows")).toEqual({ probe: "tcp_flows" });
    expect(parseProbeRef("tcp_flows@v3")).toEqual({ probe: "tcp_flows", version: 3 });
    expect(parseProbeRef("prb_abc@7")).toEqual({ probe: "prb_abc", version: 7 });
    for (const bad of ["tcp_flows@latest", "tcp_flows@v0", "@v3", "a b"]) expect(() => parseProbeRef(bad)).toThrow(/expected a probe name or id .* tcp_flows@v3/);
  });
  it("parsePercentFlag takes 95% or 95", () => {
    expect(parsePercentFlag("95%", "--min-healthy")).toBe(95);
    expect(parsePercentFlag("2.5", "--max-failed")).toBe(2.5);
    for (const bad of ["101%", "-1", "lots", ""]) expect(() => parsePercentFlag(bad, "--min-healthy")).toThrow(UsageError);
    expect(() => parsePercentFlag("x", "--min-healthy")).toThrow('--min-healthy "x": expected a percentage from 0 to 100, such as --min-healthy 95%');
  });
  it("parseWavesFlag names the flag and gives an example", () => {
    expect(parseWavesFlag("1%,10%,50%,100%")).toEqual([{ percent: 1 }, { percent: 10 }, { percent: 50 }, { percent: 100 }]);
    expect(() => parseWavesFlag("10%,5%")).toThrow(/^--waves "10%,5%": waves must grow: 5% after 10%; for example --waves 1%,10%,50%,100%/);
    expect(() => parseWavesFlag("1%,lots")).toThrow(UsageError);
  });
  it("parseWaveFlag counts from 1", () => {
    expect(parseWaveFlag("1")).toBe(0);
    expect(() => parseWaveFlag("0")).toThrow(/--wave "0"/);
  });
  it("strategyFromFlags sends only what was given", () => {
    expect(strategyFromFlags({})).toBeUndefined();
    expect(strategyFromFlags({ waves: "5,100%", bake: "0", "gate-timeout": "5m", "min-healthy": "90%", "max-cpu": "2", "on-failure": "pause" })).toEqual({
      waves: [{ count: 5 }, { percent: 100 }],
      bakeSeconds: 0,
      onFailure: "pause",
      gate: { timeoutSeconds: 300, minHealthyPercent: 90, maxProbeCpuPercent: 2 },
    });
    expect(() => strategyFromFlags({ "on-failure": "retry" })).toThrow('--on-failure must be one of rollback, pause (got "retry")');
    expect(() => strategyFromFlags({ bake: "soon" })).toThrow(/--bake "soon": expected a duration such as 90s/);
  });
});

describe("rollout CLI usage errors (exit 2, nothing called)", () => {
  const run = async (args: string[]) => {
    let stderr = "";
    const code = await runCli(args, { stdout: () => {}, stderr: (s) => (stderr += s), env: { PROBEPILOT_URL: "http://127.0.0.1:1" } });
    return { code, stderr };
  };
  it("create without --selector", async () => expect(await run(["rollout", "create", "tcp_flows"])).toMatchObject({ code: 2, stderr: expect.stringMatching(/"rollout create" needs --selector: .* --selector 'env=staging,region in \(eu,us\)'/) }));
  it("a bad percentage", async () => expect(await run(["rollout", "create", "tcp_flows", "-l", "env=x", "--min-healthy", "lots"])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--min-healthy "lots"/) }));
  it("an unknown subcommand", async () => expect(await run(["rollout", "explode"])).toMatchObject({ code: 2, stderr: expect.stringMatching(/unknown rollout command "explode": preview, create/) }));
  it("a missing id", async () => expect(await run(["rollout", "pause"])).toMatchObject({ code: 2, stderr: '"rollout pause" needs the rollout id\n' }));
  it("a bad --state", async () => expect(await run(["rollout", "list", "--state", "done"])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--state must be one of running, paused/) }));
  it("--watch with --agents", async () => expect(await run(["rollout", "status", "rol_1", "--watch", "--agents"])).toMatchObject({ code: 2 }));
});
