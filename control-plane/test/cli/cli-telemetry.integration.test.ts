import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { estimatePercentile, telemetrySubject, type Histogram, type ProfileStacks, type TelemetryBatch, type TelemetryEvent } from "@probepilot/shared";
import { captureCli } from "@probepilot/testkit/run-cli";
import { leafFrames } from "../../src/cli/commands/profile.ts";
import { parsePercentiles } from "../../src/cli/commands/histogram.ts";
import { autoStepMs } from "../../src/cli/time.ts";
import { formatAttrs, parseAttrFilters } from "../../src/cli/commands/events.ts";
import { startHarness, type Harness } from "@probepilot/testkit/control-plane-harness";
import { enrollAgents, type EnrolledAgent } from "@probepilot/testkit/fake-hello";
import { eventually } from "@probepilot/testkit/poll";
import { heartbeat, probe, publishStatus } from "@probepilot/testkit/status-messages";

const S = 1000;
const HOUR = 3600 * S;
/** Base of the data: an hour boundary about 2 h ago (inside the raw retention and the ingest window). */
const T0 = Math.floor((Date.now() - 2 * HOUR) / HOUR) * HOUR;
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.000Z$/, "Z");
const isoMs = (ms: number) => new Date(ms).toISOString();
/** The range every test reads: the first minute after T0. */
const RANGE = ["--from", iso(T0), "--to", iso(T0 + 60 * S)];

let h: Harness;
let configHome: string;
let tenantId: string;
/** a0: env=prod; a1: env=staging. */
let a0: EnrolledAgent, a1: EnrolledAgent;

let seq = 0;
/** Publish one batch as an agent does and wait until the ingester has committed it. */
async function ingest(agentId: string, probeName: string, parts: { histograms?: Histogram[]; events?: TelemetryEvent[]; profiles?: ProfileStacks[] }): Promise<void> {
  const batch: TelemetryBatch = { v: 1, tenantId, agentId, probe: probeName, probeVersion: "builtin", seq: seq++, sentAt: Date.now(), series: [], histograms: [], events: [], profiles: [], ...parts };
  await h.cp.nc.jetstream().publish(telemetrySubject(tenantId, agentId, probeName), JSON.stringify(batch));
  await eventually(async () => expect((await h.cp.db.sql`select 1 from ingest_ledger where agent_id = ${agentId} and probe = ${probeName} and seq = ${batch.seq}`).length).toBe(1), { timeoutMs: 20_000 });
}

/** A histogram snapshot at `T0 + sec`: `buckets[i]` counts values in [2^i, 2^(i+1)). */
const hist = (metric: string, labels: Record<string, string>, sec: number, buckets: number[], sum: number): Histogram => ({
  metric,
  unit: "us",
  labels,
  at: T0 + sec * S,
  buckets,
  sum,
  count: buckets.reduce((a, b) => a + b, 0),
});
const ev = (name: string, atMs: number, attrs: TelemetryEvent["attrs"]): TelemetryEvent => ({ name, at: atMs, attrs });
const prof = (sec: number, pid: number, comm: string, stacks: [string, number][]): ProfileStacks => ({ at: T0 + sec * S, pid, comm, stacks });
/** 30 frames of 20 characters: far wider than the human view's stack column. */
const DEEP_STACK = Array.from({ length: 30 }, (_, i) => `deep_function_${String(i).padStart(2, "0")}___`).join(";");

beforeAll(async () => {
  h = await startHarness();
  configHome = await mkdtemp(path.join(tmpdir(), "pp-cli-telemetry-"));
  const { token } = await h.client().enrollTokens.create.mutate({});
  const enrolled = await enrollAgents(h.cp.url, token, 2, { prefix: "ct", hello: (i) => ({ userLabels: { env: i === 0 ? "prod" : "staging" } }) });
  tenantId = enrolled.tenantId;
  [a0, a1] = enrolled.agents as [EnrolledAgent, EnrolledAgent];

  // Histograms (per-interval deltas). At step 10 s: step 0 merges to [0,4,4,2,10] (N 20),
  // step 1 is empty, step 2 merges to [1,1,2] (N 4); the whole range to [1,5,6,2,10] (N 24).
  await ingest(a0.agentId, "runqueue_latency", { histograms: [hist("runqueue_latency", { cpu: "0" }, 1, [0, 4, 4, 2], 60)] });
  await ingest(a1.agentId, "runqueue_latency", { histograms: [hist("runqueue_latency", { cpu: "0" }, 5, [0, 0, 0, 0, 10], 200)] });
  await ingest(a0.agentId, "runqueue_latency", { histograms: [hist("runqueue_latency", { cpu: "0" }, 20, [1], 1.5), hist("runqueue_latency", { cpu: "0" }, 25, [0, 1], 3)] });
  await ingest(a1.agentId, "runqueue_latency", { histograms: [hist("runqueue_latency", { cpu: "1" }, 21, [0, 0, 2], 11)] });
  await ingest(a0.agentId, "block_io_latency", {
    histograms: [hist("block_io_latency", { device: "sda", op: "read" }, 2, [0, 0, 0, 5], 50), hist("block_io_latency", { device: "sda", op: "write" }, 2, [0, 0, 0, 0, 0, 0, 0, 3], 400)],
  });

  // Events: a few of each kind, then 1,100 file opens (more than one API page), one per ms.
  await ingest(a0.agentId, "process_exec", {
    events: [
      ev("process_exec", T0 + 1 * S, { pid: 100, ppid: 1, uid: 0, comm: "bash", filename: "/usr/bin/bash", args: "bash -l" }),
      ev("process_exec", T0 + 2 * S, { pid: 101, ppid: 100, uid: 1000, comm: "curl", filename: "/usr/bin/curl", args: "curl -s https://example.com" }),
    ],
  });
  await ingest(a1.agentId, "process_exit", { events: [ev("process_exit", T0 + 3 * S, { pid: 100, comm: "bash", exitCode: 0, signal: null, durationMs: 2000 })] });
  await ingest(a1.agentId, "oom_kills", { events: [ev("oom_kill", T0 + 4 * S, { pid: "300", comm: "java" })] });
  await ingest(a0.agentId, "file_open", { events: Array.from({ length: 1100 }, (_, i) => ev("file_open", T0 + 10 * S + i, { pid: 500, comm: "find", filename: `/etc/f${i}` })) });

  // Profiles: 65 samples in 4 distinct stacks over two agents and three processes.
  await ingest(a0.agentId, "cpu_profile", { profiles: [prof(1, 10, "nginx", [["main;serve;read", 30], ["main;serve;write", 10]]), prof(1, 11, "bash", [["main;readline", 5]])] });
  await ingest(a1.agentId, "cpu_profile", { profiles: [prof(2, 10, "nginx", [["main;serve;read", 7], ["main;serve;write", 10]])] });
  await ingest(a0.agentId, "cpu_profile", { profiles: [prof(5, 10, "nginx", [[DEEP_STACK, 3]])] });
}, 120_000);

afterAll(async () => {
  await h?.stop();
  await rm(configHome, { recursive: true, force: true });
});

const cli = (args: string[]) => captureCli(args, { XDG_CONFIG_HOME: configHome, PROBEPILOT_URL: h.cp.url, PROBEPILOT_TOKEN: h.adminToken });

describe("probepilot histogram", () => {
  const args = ["histogram", "runqueue_latency", "--since", iso(T0), "--until", iso(T0 + 30 * S), "--step", "10s"];

  it("for people: count and p50/p90/p99 per step with the unit, then the whole range in one line", async () => {
    const r = await cli(args);
    expect(r.code).toBe(0);
    // Step 0: N 20, p50 rank 10 → top of [8,16) = 16; p90 rank 18 → 16 + 16·8/10 = 28.8; p99 rank 19.8 → 31.68.
    // Step 2: N 4, p50 → top of [2,4) = 4; p90 rank 3.6 → 4 + 4·0.8 = 7.2; p99 → 7.92.
    // Whole range: N 24, p50 rank 12 → top of [4,8) = 8; p90 rank 21.6 → 28.16; p99 rank 23.76 → 31.616; mean 275.5 / 24.
    expect(r.stdout).toBe(
      [
        `runqueue_latency · step 10s · 3 series · ${iso(T0)} → ${iso(T0 + 30 * S)}`,
        "",
        "TIME                  COUNT  P50 (us)  P90 (us)  P99 (us)",
        `${iso(T0)}  20     16        28.8      31.7`,
        `${iso(T0 + 10 * S)}  0      -         -         -`,
        `${iso(T0 + 20 * S)}  4      4         7.2       7.92`,
        "",
        "24 value(s) over the range · p50 8 us · p90 28.2 us · p99 31.6 us · mean 11.5 us",
        "",
      ].join("\n"),
    );
  });

  it("--json prints the telemetry.histogram result; --selector, --series-selector and --percentiles pass through", async () => {
    const json = JSON.parse((await cli([...args, "--selector", "env=staging", "--percentiles", "p50,99.9", "--json"])).stdout);
    expect(json).toMatchObject({
      stepMs: 10 * S,
      timestamps: [T0, T0 + 10 * S, T0 + 20 * S],
      count: [10, 0, 2],
      percentiles: [
        { p: 50, values: [24, null, 6] },
        { p: 99.9, values: [expect.closeTo(31.984, 6), null, expect.closeTo(7.996, 6)] },
      ],
      seriesMatched: 2,
    });
    const reads = await cli(["histogram", "block_io_latency", ...RANGE, "--step", "1m", "--series-selector", "op=read"]);
    expect(reads.code).toBe(0);
    expect(reads.stdout).toMatch(/^block_io_latency · step 1m · 1 series · /);
    expect(reads.stdout).toMatch(/\n5 value\(s\) over the range · p50 12 us · p90 15\.2 us · p99 15\.9 us · mean 10 us\n$/);
  });

  it("an unknown histogram says so and points at the catalog", async () => {
    const r = await cli(["histogram", "no_such_latency", ...RANGE, "--selector", "env=prod"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/no histogram "no_such_latency" for agents "env=prod"; `probepilot metrics` lists the stored ones \(KIND histogram\)/);
  });
});

describe("probepilot events", () => {
  it("for people: newest first, identity attributes first, strings quoted when they would read otherwise", async () => {
    const r = await cli(["events", "--name", "process_exec", ...RANGE]);
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toBe(`events · name process_exec · ${iso(T0)} → ${iso(T0 + 60 * S)}`);
    expect(lines[2]).toMatch(/^TIME\s+AGENT\s+NAME\s+ATTRIBUTES$/);
    expect(lines[3]).toBe(`${isoMs(T0 + 2 * S)}  ${a0.agentId}  process_exec  pid=101 ppid=100 uid=1000 comm=curl args="curl -s https://example.com" filename=/usr/bin/curl`);
    expect(lines[4]).toBe(`${isoMs(T0 + 1 * S)}  ${a0.agentId}  process_exec  pid=100 ppid=1 uid=0 comm=bash args="bash -l" filename=/usr/bin/bash`);
    expect(lines.slice(5)).toEqual(["", "2 event(s), newest first", ""]);

    const oom = await cli(["events", "--probe", "oom_kills", ...RANGE]);
    expect(oom.stdout).toMatch(/oom_kill {2}pid="300" comm=java\n/);
  });

  it("--json prints the items; --attr values are numbers, booleans or strings as they read, --selector matches agent labels", async () => {
    const bash = JSON.parse((await cli(["events", ...RANGE, "--attr", "comm=bash", "--attr", "pid=100", "--json"])).stdout);
    expect(bash).toEqual([
      { id: expect.any(Number), agentId: a1.agentId, probe: "process_exit", name: "process_exit", ts: T0 + 3 * S, attrs: { pid: 100, comm: "bash", exitCode: 0, signal: null, durationMs: 2000 } },
      { id: expect.any(Number), agentId: a0.agentId, probe: "process_exec", name: "process_exec", ts: T0 + 1 * S, attrs: { pid: 100, ppid: 1, uid: 0, comm: "bash", filename: "/usr/bin/bash", args: "bash -l" } },
    ]);
    // The oom_kill's pid is the string "300": 300 does not match it, "300" quoted does.
    expect((await cli(["events", ...RANGE, "--attr", "pid=300"])).stdout).toMatch(/pid=300 · .*\n\nno events match in this range/);
    const quoted = JSON.parse((await cli(["events", ...RANGE, "--attr", 'pid="300"', "--json"])).stdout);
    expect(quoted.map((e: { name: string }) => e.name)).toEqual(["oom_kill"]);
    const staging = JSON.parse((await cli(["events", ...RANGE, "--selector", "env=staging", "--json"])).stdout);
    expect(staging.map((e: { name: string }) => e.name)).toEqual(["oom_kill", "process_exit"]);
  });

  it("--limit above a page follows the API's cursor; the rest is one --cursor away", async () => {
    const all = JSON.parse((await cli(["events", "--name", "file_open", ...RANGE, "--limit", "1050", "--json"])).stdout) as { id: number; ts: number; attrs: { filename: string } }[];
    expect(all).toHaveLength(1050);
    expect(all[0]!.attrs.filename).toBe("/etc/f1099");
    expect(all[1049]!.attrs.filename).toBe("/etc/f50");
    expect(new Set(all.map((e) => e.id)).size).toBe(1050);
    for (let i = 1; i < all.length; i++) expect(all[i]!.ts).toBeLessThan(all[i - 1]!.ts);

    const human = await cli(["events", "--name", "file_open", ...RANGE, "--limit", "1050"]);
    const footer = /\n1050 event\(s\), newest first; more in this range: --cursor (\S+)\n$/.exec(human.stdout);
    expect(footer).not.toBeNull();
    const rest = JSON.parse((await cli(["events", "--name", "file_open", ...RANGE, "--cursor", footer![1]!, "--json"])).stdout) as { attrs: { filename: string } }[];
    expect(rest.map((e) => e.attrs.filename)).toEqual(Array.from({ length: 50 }, (_, i) => `/etc/f${49 - i}`));
  });
});

describe("probepilot profile", () => {
  it("for people: the total and the top stacks with their share, leaf frames kept on deep stacks", async () => {
    const r = await cli(["profile", ...RANGE]);
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines.slice(0, 7)).toEqual([
      `cpu profile · ${iso(T0)} → ${iso(T0 + 60 * S)}`,
      "65 samples · 4 distinct stack(s)",
      "",
      "SAMPLES  %      STACK (root;…;leaf)",
      "37       56.9%  main;serve;read",
      "20       30.8%  main;serve;write",
      "5        7.7%   main;readline",
    ]);
    expect(lines[7]).toMatch(/^3 {8}4\.6% {3}…;deep_function_2\d___;.*;deep_function_29___$/);
    expect(lines[7]!.slice(16).length).toBeLessThanOrEqual(100);
    expect(lines.slice(8)).toEqual(["", "top 4 of 4 stack(s)", ""]);
  });

  it("--limit: the rest in one line, with how to see it", async () => {
    const r = await cli(["profile", ...RANGE, "--limit", "2"]);
    expect(r.stdout).toMatch(/\n8 {8}12\.3% {2}\(2 other stacks\)\n\ntop 2 of 4 stack\(s\); --limit N shows more, --folded prints them for a flame graph\n$/);
  });

  it("--folded prints `stack count` lines for flamegraph.pl; --agent, --selector, --pid and --comm narrow it", async () => {
    expect((await cli(["profile", ...RANGE, "--folded"])).stdout).toBe(`main;serve;read 37\nmain;serve;write 20\nmain;readline 5\n${DEEP_STACK} 3\n`);
    expect((await cli(["profile", ...RANGE, "--folded", "--comm", "bash"])).stdout).toBe("main;readline 5\n");
    expect((await cli(["profile", ...RANGE, "--folded", "--selector", "env=prod", "--pid", "10"])).stdout).toBe(`main;serve;read 30\nmain;serve;write 10\n${DEEP_STACK} 3\n`);
    expect((await cli(["profile", ...RANGE, "--folded", "--comm", "nobody"])).stdout).toBe("");
    const json = JSON.parse((await cli(["profile", ...RANGE, "--agent", a1.agentId, "--json"])).stdout);
    expect(json).toEqual({ stacks: [{ stack: "main;serve;write", count: 10 }, { stack: "main;serve;read", count: 7 }], total: 17, distinct: 2, truncated: false });
  });
});

describe("probepilot agents get: probe health and cost", () => {
  it("shows restarts and what each probe costs; agents list stays one word per probe", async () => {
    const at = Date.now();
    const probes = [
      probe({ kind: "tcp_flows", version: "builtin", cost: { kernelTimeNs: 1.2e9, kernelRunCount: 100_000, kernelCpuPercent: 0.1234, loaderCpuPercent: 0.3, loaderRssBytes: 6_100_000, at } }),
      probe({ kind: "runqueue_latency", version: "builtin", restarts: 2, cost: { kernelTimeNs: 1, kernelRunCount: 1, kernelCpuPercent: 0.001, loaderCpuPercent: 0, loaderRssBytes: 950, at } }),
      probe({ kind: "cpu_profile", version: "builtin", state: "failed", restarts: 1, error: "perf_event_open: EACCES" }),
    ];
    await publishStatus(h.cp.nc.jetstream(), heartbeat(tenantId, a0.agentId, { at, probes }));
    await eventually(async () => expect((await h.client().agents.get.query({ id: a0.agentId })).probes).toEqual(probes));

    const r = await cli(["agents", "get", a0.agentId]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      [
        "probes:",
        "  tcp_flows builtin: running · kernel 0.12% cpu · loader 0.3% cpu, 6.1 MB",
        "  runqueue_latency builtin: running · 2 restarts · kernel <0.01% cpu · loader 0% cpu, 950 B",
        "  cpu_profile builtin: failed · 1 restart — perf_event_open: EACCES",
        "",
      ].join("\n"),
    );
    const list = await cli(["agents", "list", "--selector", "env=prod"]);
    expect(list.stdout).toMatch(/\s2 running, 1 failed\s/);
    expect(list.stdout).not.toMatch(/kernel|loader|restart/);
  });
});

describe("bad input", () => {
  it("usage errors exit 2 before calling the API; the API's refusals exit 1 with its message", async () => {
    const usage: [string[], RegExp][] = [
      [["histogram"], /"histogram" needs the histogram metric name/],
      [["histogram", "runqueue_latency", "--percentiles", "50,ninety"], /--percentiles "50,ninety": expected numbers from 0 to 100 separated by commas.*\("ninety" is not one\)/],
      [["histogram", "runqueue_latency", "--step", "often"], /--step "often": expected a duration/],
      [["events", "--attr", "comm"], /--attr "comm": expected key=value/],
      [["events", "--since", "1h", "--from", "2h"], /give --since or --from, not both/],
      [["events", "--from", "5m", "--to", "10m"], /--from \(.*\) must be before --to/],
      [["events", "--limit", "0"], /--limit "0": expected a whole number ≥ 1/],
      [["profile", "--agent", a0.agentId, "--selector", "env=prod"], /give --agent \(one agent\) or --selector \(a set of agents\), not both/],
      [["profile", "--pid", "nginx"], /--pid "nginx": expected a process id/],
      [["profile", "--folded", "--json"], /give --folded or --json, not both/],
    ];
    for (const [args, message] of usage) {
      const r = await cli(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr, args.join(" ")).toMatch(message);
      expect(r.stdout).toBe("");
    }
    const refused: [string[], RegExp][] = [
      [["histogram", "runqueue_latency", "--percentiles", "50,150"], /^error: .*percentiles are from 0 to 100/],
      [["histogram", "runqueue_latency", "--since", "24h", "--step", "1s"], /^error: 8640[01] time buckets .* use a step of at least \d+ ms or a shorter range/],
      [["events", "--selector", "env in prod"], /^error: .*position 7: expected "\(" after "in"/],
      [["profile", "--agent", "agt_nosuchagent"], /^error: invalid input: agentId: expected an agent id such as agt_01h…/],
      [["profile", "--agent", `agt_${"0".repeat(26)}`], /^error: .*agt_0{26}/],
    ];
    for (const [args, message] of refused) {
      const r = await cli(args);
      expect(r.code, args.join(" ")).toBe(1);
      expect(r.stderr, args.join(" ")).toMatch(message);
    }
  });
});

describe("helpers", () => {
  it("leafFrames keeps the leaf side of a deep stack within the width", () => {
    expect(leafFrames("a;b;c", 10)).toBe("a;b;c");
    expect(leafFrames("root;middle;leaf", 10)).toBe("…;leaf");
    expect(leafFrames("root;averyveryverylongleaf", 10)).toBe("…ylongleaf");
  });

  it("attribute filters and their display", () => {
    expect(parseAttrFilters(JSON.stringify(["pid=42", "ok=true", "comm=bash", 'uid="0"', "args=a=b", "x=-1.5e3"]))).toEqual({ pid: 42, ok: true, comm: "bash", uid: "0", args: "a=b", x: -1500 });
    expect(formatAttrs({ args: "ls -l", comm: "ls", pid: 7, uid: "0", ok: false, none: null, empty: "" })).toBe('pid=7 uid="0" comm=ls args="ls -l" ok=false none=null empty=""');
  });

  it("percentiles: parsing, automatic step and the whole-range estimate", () => {
    expect(parsePercentiles("50, 90,p99.9")).toEqual([50, 90, 99.9]);
    expect(autoStepMs(3600 * S, 30)).toBe(120 * S);
    expect(autoStepMs(15 * 60 * S, 30)).toBe(30 * S);
    expect(estimatePercentile([1, 5, 6, 2, 10], 50)).toBe(8);
    expect(estimatePercentile([], 50)).toBeNull();
    // Holes (buckets no step had) count as empty.
    expect(estimatePercentile([0, 4, 0, 0, 4], 100)).toBe(32);
  });
});
