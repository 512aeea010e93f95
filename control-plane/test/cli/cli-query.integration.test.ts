import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { telemetrySubject, type MetricSeries, type TelemetryBatch } from "@probepilot/shared";
import { captureCli } from "@probepilot/testkit/run-cli";
import { sparkline } from "../../src/cli/commands/query.ts";
import { autoStepMs as autoStep, parseTime } from "../../src/cli/time.ts";
import { startHarness, type Harness } from "@probepilot/testkit/control-plane-harness";
import { enrollAgents } from "@probepilot/testkit/fake-hello";
import { eventually } from "@probepilot/testkit/poll";

/** The step `query` picks for a range (it aims at about 100 points). */
const autoStepMs = (rangeMs: number) => autoStep(rangeMs, 100);
const S = 1000;
const HOUR = 3600 * S;
/** Fixed-range data: an hour boundary 3 h ago. */
const T0 = Math.floor((Date.now() - 3 * HOUR) / HOUR) * HOUR;
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.000Z$/, "Z");

let h: Harness;
let configHome: string;

beforeAll(async () => {
  h = await startHarness();
  configHome = await mkdtemp(path.join(tmpdir(), "pp-cli-query-"));
  const { token } = await h.client().enrollTokens.create.mutate({});
  const { tenantId, agents } = await enrollAgents(h.cp.url, token, 2, { prefix: "cq", hello: (i) => ({ userLabels: { env: i === 0 ? "prod" : "staging" } }) });
  const now = Date.now();
  const publish = async (agentId: string, seq: number, series: MetricSeries[]) => {
    const batch: TelemetryBatch = { v: 1, tenantId, agentId, probe: "host", probeVersion: "builtin", seq, sentAt: now, series, histograms: [], events: [], profiles: [] };
    await h.cp.nc.jetstream().publish(telemetrySubject(tenantId, agentId, "host"), JSON.stringify(batch));
  };
  const tens = [0, 10, 20, 30, 40, 50];
  await publish(agents[0]!.agentId, 0, [
    { metric: "cpu_util", kind: "gauge", unit: "ratio", labels: { mode: "user" }, points: tens.map((s, i) => [T0 + s * S, [1, 3, 5, 7, 9, 11][i]!]) },
    { metric: "cpu_util", kind: "gauge", unit: "ratio", labels: { mode: "system" }, points: tens.map((s) => [T0 + s * S, 2]) },
    // Recent data, for the default --since 5m.
    { metric: "host_load1", kind: "gauge", labels: {}, points: [40, 30, 20, 10].map((ago, i) => [now - ago * S, 0.5 + i * 0.25]) },
  ]);
  await publish(agents[1]!.agentId, 0, [
    { metric: "cpu_util", kind: "gauge", unit: "ratio", labels: { mode: "user" }, points: [0, 10, 40, 50].map((s, i) => [T0 + s * S, [100, 120, 100, 100][i]!]) },
    { metric: "net_bytes", kind: "counter", unit: "bytes", labels: { dev: "eth0" }, points: tens.map((s) => [T0 + s * S, s * 10]) },
  ]);
  await eventually(async () => expect(Number((await h.cp.db.sql`select count(*)::int as n from samples`)[0]!.n)).toBe(6 + 6 + 4 + 4 + 6));
});
afterAll(async () => {
  await h?.stop();
  await rm(configHome, { recursive: true, force: true });
});

const cli = (args: string[]) => captureCli(args, { XDG_CONFIG_HOME: configHome, PROBEPILOT_URL: h.cp.url, PROBEPILOT_TOKEN: h.adminToken });

const fixedRange = ["--since", iso(T0), "--until", iso(T0 + 60 * S), "--step", "20s"];

describe("probepilot query", () => {
  it("--json prints the API result", async () => {
    const r = await cli(["query", "cpu_util", ...fixedRange, "--by", "env", "--series-selector", "mode=user", "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      tier: "raw",
      stepMs: 20_000,
      rawFrom: T0,
      series: [
        { labels: { env: "prod" }, points: [[T0, 2], [T0 + 20 * S, 6], [T0 + 40 * S, 10]] },
        { labels: { env: "staging" }, points: [[T0, 110], [T0 + 20 * S, null], [T0 + 40 * S, 100]] },
      ],
    });
  });

  it("for people: a header, then per group a summary, a sparkline and the points", async () => {
    const r = await cli(["query", "cpu_util", ...fixedRange, "--by", "env", "--series-selector", "mode=user"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      [
        `cpu_util avg by env · step 20s · tier raw · ${iso(T0)} → ${iso(T0 + 60 * S)} · 2 series`,
        "",
        "env=prod",
        "  points 3/3  min 2  avg 6  max 10  last 10",
        "  ▁▅█",
        "  TIME                  VALUE",
        `  ${iso(T0)}  2`,
        `  ${iso(T0 + 20 * S)}  6`,
        `  ${iso(T0 + 40 * S)}  10`,
        "",
        "env=staging",
        "  points 2/3  min 100  avg 105  max 110  last 100",
        "  █ ▁",
        "  TIME                  VALUE",
        `  ${iso(T0)}  110`,
        `  ${iso(T0 + 20 * S)}  -`,
        `  ${iso(T0 + 40 * S)}  100`,
        "",
      ].join("\n"),
    );
  });

  it("--agg rate and --selector on agent labels; one group without --by", async () => {
    const r = await cli(["query", "net_bytes", ...fixedRange, "--agg", "rate", "--selector", "env=staging", "--json"]);
    expect(JSON.parse(r.stdout).series).toEqual([{ labels: {}, points: [[T0, 10], [T0 + 20 * S, 10], [T0 + 40 * S, 10]] }]);
    const human = await cli(["query", "net_bytes", ...fixedRange, "--agg", "rate"]);
    expect(human.stdout).toMatch(/^net_bytes rate · step 20s/);
    expect(human.stdout).toMatch(/^\(all matching series\)\n {2}points 3\/3 {2}min 10 {2}avg 10/m);
  });

  it("defaults: the last 5 minutes at an automatic step, newest points shown", async () => {
    const r = await cli(["query", "host_load1"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^host_load1 avg · step 5s · tier raw · /);
    expect(r.stdout).toMatch(/points 4\/6[01] {2}min 0\.5 {2}avg 0\.875 {2}max 1\.25 {2}last 1\.25/);
    // 60 or 61 points (from is rounded down to the step): the table shows the newest 10 and says how to get the rest.
    expect(r.stdout).toMatch(/\(5[01] earlier point\(s\); --json prints them all\)/);
  });

  it("no data: says so and points at the catalog", async () => {
    const r = await cli(["query", "cpu_util", "--since", "10m", "--selector", "env=nowhere"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/no data for agents "env=nowhere" in this range; `probepilot metrics` lists the stored metrics/);
  });

  it("usage errors exit 2 before calling the API", async () => {
    const cases: [string[], RegExp][] = [
      [["query"], /"query" needs the metric name/],
      [["query", "cpu_util", "--agg", "median"], /--agg must be one of avg, min, max, sum, count, rate \(got "median"\)/],
      [["query", "cpu_util", "--since", "yesterday"], /--since "yesterday": expected now, a duration ago/],
      [["query", "cpu_util", "--step", "fast"], /--step "fast": expected a duration/],
      [["query", "cpu_util", "--since", "5m", "--until", "10m"], /--since \(.*\) must be before --until/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(message);
    }
  });

  it("the API's refusals exit 1 with its message", async () => {
    const tooFine = await cli(["query", "cpu_util", "--since", "24h", "--step", "1s"]);
    expect(tooFine.code).toBe(1);
    expect(tooFine.stderr).toMatch(/^error: 8640[01] points per series .* use a step of at least 7855 ms/);
    const badSelector = await cli(["query", "cpu_util", "--selector", "env in prod"]);
    expect(badSelector.code).toBe(1);
    expect(badSelector.stderr).toMatch(/position 7: expected "\(" after "in"/);
  });
});

describe("probepilot metrics", () => {
  it("lists the catalog as a table, or JSON", async () => {
    const r = await cli(["metrics"]);
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toMatch(/^METRIC\s+KIND\s+UNIT\s+SERIES\s+AGENTS\s+LABEL KEYS$/);
    expect(lines[1]).toMatch(/^cpu_util\s+gauge\s+ratio\s+3\s+2\s+mode$/);
    expect(lines[2]).toMatch(/^host_load1\s+gauge\s+-\s+1\s+1\s+-$/);
    expect(lines[3]).toMatch(/^net_bytes\s+counter\s+bytes\s+1\s+1\s+dev$/);
    expect(r.stdout).toMatch(/3 metric\(s\); query one with `probepilot query METRIC --since 15m`/);
    const json = JSON.parse((await cli(["metrics", "--json", "--selector", "env=staging"])).stdout);
    expect(json).toEqual([
      { metric: "cpu_util", kind: "gauge", unit: "ratio", labelKeys: ["mode"], series: 1, agents: 1 },
      { metric: "net_bytes", kind: "counter", unit: "bytes", labelKeys: ["dev"], series: 1, agents: 1 },
    ]);
    expect((await cli(["metrics", "--prefix", "zzz"])).stdout).toBe("no metrics match\n");
  });
});

describe("query helpers", () => {
  it("parseTime: now, durations ago, ISO times and Unix ms", () => {
    const now = 1_700_000_000_000;
    expect(parseTime("now", "--until", now)).toBe(now);
    expect(parseTime("15m", "--since", now)).toBe(now - 900_000);
    expect(parseTime("90", "--since", now)).toBe(now - 90_000);
    expect(parseTime("2025-01-31T12:00:00Z", "--since", now)).toBe(Date.UTC(2025, 0, 31, 12));
    expect(parseTime("1699999999000", "--since", now)).toBe(1_699_999_999_000);
  });

  it("autoStepMs: a round step giving at most about 100 points", () => {
    expect(autoStepMs(5 * 60_000)).toBe(5_000);
    expect(autoStepMs(3600_000)).toBe(60_000);
    expect(autoStepMs(24 * 3600_000)).toBe(900_000);
    expect(autoStepMs(30 * 86_400_000)).toBe(43_200_000);
    expect(autoStepMs(365 * 86_400_000)).toBe(4 * 86_400_000);
  });

  it("sparkline: scaled blocks, gaps as spaces, at most 60 columns", () => {
    expect(sparkline([0, 7, null, 14])).toBe("▁▅ █");
    expect(sparkline([3, 3])).toBe("▄▄");
    expect(sparkline(Array.from({ length: 600 }, (_, i) => i)).length).toBe(60);
  });
});
