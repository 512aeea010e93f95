/**
 * `pnpm bench:overhead` — what the agent with its default probes costs a host
 * (see agent/bench/README.md).
 *
 * Setup (not timed): `make -C bpf` (loader, probe objects, the workload program),
 * then the same real control plane the integration tests use (`startHarness`: its own
 * `nats-server -js`, a fresh database, `startControlPlane`) and an enrollment token.
 *
 * Then BENCH_ROUNDS rounds, each timing the workload (bpf/testprogs/workload.c: a
 * fixed amount of syscalls, TCP connect/send/close, file opens and fork+execs)
 * once without the agent and once with it, in ABBA order (round 1 without→with,
 * round 2 with→without, …) so that drift of a shared machine cancels out. The
 * "with" half of a round:
 *   1. spawns the real agent binary (`--default-probes defaults`, its own data dir,
 *      `--http 127.0.0.1:<port>`) and waits until every probe it can run is `running`,
 *      every eBPF probe has reported a cost (two loader intervals) and BENCH_WARMUP_S have passed;
 *   2. measures its idle CPU over BENCH_IDLE_S: utime+stime of the agent and of all its
 *      descendants (the `ppbpf` loaders) from /proc/<pid>/stat, plus the BPF programs'
 *      kernel time from the `cost.kernelTimeNs` deltas its /healthz reports;
 *   3. measures RSS: VmRSS of the agent and its descendants, summed;
 *   4. runs the workload, then reads every probe's kernel time again to see what each
 *      probe cost during the workload;
 *   5. stops the agent (SIGTERM) and checks its loaders exited with it.
 * A round whose agent hung (stopped answering /healthz, or ignored SIGTERM) is reported,
 * discarded and run again: it would measure the hang, not the overhead.
 *
 * Slowdown = median(with) / median(without) − 1. RSS and idle CPU are medians over rounds.
 * Last line: `overhead: workload slowdown <p>% with <n> probes, agent+loaders RSS <m> MB, idle CPU <c>%`.
 *
 * Environment (all optional):
 *   BENCH_ROUNDS         rounds (default 5)
 *   BENCH_PROBES         the agent's --default-probes (default "defaults"; e.g. "host",
 *                        "host,runqueue_latency", "defaults,file_open"), to find what each probe costs
 *   BENCH_IDLE_S         idle measurement window in seconds (default 20: two cpu_profile intervals)
 *   BENCH_WARMUP_S       the idle window starts no sooner than this after the agent's start (default 45: past the
 *                        first profiles, whose one-time symbol-table loads are start-up, not idle, cost):
 *                        node's start-up (tsx compiling the TypeScript, JIT warm-up) is not idle cost
 *   BENCH_SETTLE_S       how long to wait for the probes to run and report costs (default 60)
 *   BENCH_WORKLOAD_ARGS  extra arguments for the workload, e.g. "--scale 2" or "--execs 0"
 *   BENCH_INGEST         "on" to let the control plane ingest the agent's telemetry into Postgres
 *                        on this machine too (default "off": the control plane is not the agent's cost)
 *   BENCH_AGENT_LOG      the agent's --log-level (default "warn"; its warnings are echoed)
 *   BENCH_MAX_DISCARDS   rounds whose agent hung (stopped answering /healthz, or ignored SIGTERM) are
 *                        reported, discarded and run again, at most this many times (default 3)
 *   DATABASE_URL         server for the throwaway database (default postgres://postgres@127.0.0.1:5432/postgres)
 *   PP_TEST_LOG          control-plane log level (default silent)
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { ProbeStatus } from "@probepilot/shared";
import { startHarness, type Harness } from "@probepilot/testkit/control-plane-harness";
import { freePort } from "@probepilot/testkit/free-port";
import { parseAgentEnv } from "../src/env.ts";
import { teardownStack } from "@probepilot/testkit/teardown";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const AGENT_BIN = path.join(REPO, "agent/bin/probepilot-agent.mjs");
const WORKLOAD_BIN = path.join(REPO, "bpf/build/testprogs/workload");

/** Targets from the issue. */
const TARGET_SLOWDOWN_PCT = 3;
const TARGET_RSS_MB = 100;
const TARGET_IDLE_CPU_PCT = 1;

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on every Linux ABI in use). */
const CLK_TCK = 100;

const say = (line: string) => process.stdout.write(`${line}\n`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const median = (xs: number[]) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : "n/a");
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : "n/a");
const ms = (n: number) => `${Math.round(n).toLocaleString("en-US")} ms`;
const signedPct = (n: number) => `${n >= 0 ? "+" : ""}${f1(n)}%`;

function intEnv(name: string, fallback: number, min = 1): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw.replaceAll("_", ""));
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer of at least ${min}, got ${JSON.stringify(raw)}`);
  return n;
}

// ---------------------------------------------------------------------------------------------
// /proc accounting
// ---------------------------------------------------------------------------------------------

type ProcSample = { pid: number; ppid: number; cpuSec: number; startTicks: number; comm: string };

/** ppid, utime+stime (s) and start time of a process, or null when it is gone. */
async function readStat(pid: number): Promise<ProcSample | null> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, "utf8");
    const close = text.lastIndexOf(")");
    const comm = text.slice(text.indexOf("(") + 1, close);
    // Fields after "comm)": state(0) ppid(1) … utime(11) stime(12) … starttime(19).
    const f = text.slice(close + 2).split(" ");
    return { pid, ppid: Number(f[1]), cpuSec: (Number(f[11]) + Number(f[12])) / CLK_TCK, startTicks: Number(f[19]), comm };
  } catch {
    return null;
  }
}

/** `root` and all its descendants (the loaders are the agent's children), found through every process's ppid. */
async function processTree(root: number): Promise<ProcSample[]> {
  const all: ProcSample[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const s = await readStat(Number(name));
    if (s) all.push(s);
  }
  const byParent = new Map<number, ProcSample[]>();
  for (const s of all) byParent.set(s.ppid, [...(byParent.get(s.ppid) ?? []), s]);
  const rootSample = all.find((s) => s.pid === root);
  if (!rootSample) return [];
  const out = [rootSample];
  for (let i = 0; i < out.length; i++) out.push(...(byParent.get(out[i]!.pid) ?? []));
  return out;
}

/**
 * Proportional set size in bytes (0 when gone): the process's private pages plus
 * its share of pages shared with others. The loaders are small C processes that
 * share libc, libbpf and libelf pages with each other; summing their VmRSS counts
 * those pages once per loader, summing PSS counts them once in all.
 */
async function pssBytes(pid: number): Promise<number> {
  try {
    const m = /^Pss:\s+(\d+)\s+kB/m.exec(await readFile(`/proc/${pid}/smaps_rollup`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** VmRSS of a process in bytes (0 when gone). */
async function rssBytes(pid: number): Promise<number> {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(await readFile(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** The probe kind a `ppbpf` loader runs, from its `--object …/<kind>.bpf.o` argument. */
async function loaderKind(pid: number): Promise<string | null> {
  try {
    const argv = (await readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0");
    const object = argv[argv.indexOf("--object") + 1];
    return object ? path.basename(object).replace(/\.bpf\.o$/, "") : null;
  } catch {
    return null;
  }
}

/** CPU seconds used between two snapshots of the same tree: per process, keyed by pid + start time (pid reuse). */
function cpuDelta(before: ProcSample[], after: ProcSample[], root: number): { agentSec: number; childrenSec: number } {
  const key = (s: ProcSample) => `${s.pid}:${s.startTicks}`;
  const was = new Map(before.map((s) => [key(s), s.cpuSec]));
  let agentSec = 0;
  let childrenSec = 0;
  for (const s of after) {
    const d = s.cpuSec - (was.get(key(s)) ?? 0); // a process that appeared in the window counts in full
    if (s.pid === root) agentSec += d;
    else childrenSec += d;
  }
  return { agentSec, childrenSec };
}

// ---------------------------------------------------------------------------------------------
// The workload
// ---------------------------------------------------------------------------------------------

type WorkloadResult = { syscall_ms: number; tcp_ms: number; open_ms: number; exec_ms: number; total_ms: number; syscalls: number; connects: number; opens: number; execs: number };
const PARTS = ["syscall_ms", "tcp_ms", "open_ms", "exec_ms", "total_ms"] as const;

function runWorkload(args: string[]): Promise<WorkloadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(WORKLOAD_BIN, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.once("error", (e) => reject(new Error(`cannot run ${WORKLOAD_BIN}: ${e.message}`)));
    child.once("close", (code, signal) => {
      if (code !== 0) return reject(new Error(`workload ${signal ? `killed by ${signal}` : `exited with ${code}`}: ${err.trim()}`));
      const last = out.trim().split("\n").at(-1) ?? "";
      try {
        resolve(JSON.parse(last) as WorkloadResult);
      } catch {
        reject(new Error(`workload printed no JSON result line, got ${JSON.stringify(last)}`));
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------
// The agent
// ---------------------------------------------------------------------------------------------

type Healthz = { ok: boolean; nats?: boolean; agentId?: string | null; probes?: ProbeStatus[] };

type RunningAgent = {
  child: ChildProcess;
  pid: number;
  httpPort: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output: () => string;
  /** GET /healthz (5 s timeout). */
  healthz: () => Promise<Healthz>;
  /** /healthz requests that failed or timed out after it had answered once: the agent's event loop is stuck. */
  unanswered: () => number;
};

/** Bounded tail of a child's output, for error messages. */
function tailBuffer(limit = 256 * 1024) {
  let text = "";
  return { push: (s: string) => void (text = (text + s).slice(-limit)), text: () => text };
}

/** Echo the agent's warnings and errors (pino JSON lines) as they come, up to a limit per run. */
function echoAgentLog(line: string, state: { echoed: number }): void {
  if (!line.trim()) return;
  let rec: { level?: number; msg?: string; kind?: string; probe?: string; err?: { message?: string } };
  try {
    rec = JSON.parse(line);
  } catch {
    rec = { level: 50, msg: line };
  }
  if ((rec.level ?? 0) < 40) return;
  if (state.echoed++ >= 20) return;
  const what = rec.kind ?? rec.probe;
  say(`    agent ${rec.level! >= 50 ? "ERROR" : "warn"}: ${what ? `[${what}] ` : ""}${rec.msg ?? ""}${rec.err?.message ? `: ${rec.err.message.split("\n")[0]}` : ""}`);
}

async function spawnAgent(opts: { agentArgs: string[]; dataDir: string; enrollToken?: string; probes: string; logLevel: string }): Promise<RunningAgent> {
  const httpPort = await freePort();
  const args = [AGENT_BIN, ...opts.agentArgs, "--data-dir", opts.dataDir, "--http", `127.0.0.1:${httpPort}`, "--default-probes", opts.probes, "--log-level", opts.logLevel];
  if (opts.enrollToken) args.push("--enroll-token", opts.enrollToken);
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  const tail = tailBuffer();
  const echo = { echoed: 0 };
  let partial = "";
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (d: string) => {
    tail.push(d);
    const lines = (partial + d).split("\n");
    partial = lines.pop()!;
    for (const l of lines) echoAgentLog(l, echo);
  });
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (d: string) => tail.push(d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  await new Promise<void>((resolve, reject) => {
    child.once("spawn", resolve);
    child.once("error", reject);
  });
  let answered = false;
  let unanswered = 0;
  return {
    child,
    pid: child.pid!,
    httpPort,
    exited,
    output: tail.text,
    healthz: async () => {
      try {
        const body = (await (await fetch(`http://127.0.0.1:${httpPort}/healthz`, { signal: AbortSignal.timeout(5000) })).json()) as Healthz;
        answered = true;
        return body;
      } catch (err) {
        if (answered) unanswered++;
        throw err;
      }
    },
    unanswered: () => unanswered,
  };
}

const isBpf = (p: ProbeStatus) => p.kind !== "host";
const SETTLED: ReadonlySet<string> = new Set(["running", "unsupported", "verified"]);

/** Poll /healthz until `done(probes)` holds, the agent exits, or the deadline passes (then the last probes seen). */
async function waitForProbes(agent: RunningAgent, deadline: number, done: (probes: ProbeStatus[]) => boolean): Promise<{ probes: ProbeStatus[]; timedOut: boolean }> {
  let exited = false;
  void agent.exited.then(() => (exited = true));
  let last: ProbeStatus[] = [];
  for (;;) {
    if (exited) throw new Error(`the agent exited while starting its probes; its output:\n${agent.output().slice(-4000)}`);
    try {
      const h = await agent.healthz();
      if (h.ok && h.probes && h.probes.length > 0) {
        last = h.probes;
        if (done(last)) return { probes: last, timedOut: false };
      }
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) return { probes: last, timedOut: true };
    await sleep(250);
  }
}

/** Whether the process that had this pid and start time still exists (not a zombie waiting to be reaped). */
async function stillRunning(s: ProcSample): Promise<boolean> {
  try {
    const text = await readFile(`/proc/${s.pid}/stat`, "utf8");
    const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return Number(f[19]) === s.startTicks && f[0] !== "Z";
  } catch {
    return false;
  }
}

/** SIGTERM the agent and wait; then check its loaders went with it (killing, and returning, any that did not). */
async function stopAgent(agent: RunningAgent, loaders: ProcSample[]): Promise<{ stopMs: number; leftovers: ProcSample[]; clean: boolean }> {
  const t = performance.now();
  let clean = true;
  if (agent.child.exitCode === null && agent.child.signalCode === null) {
    agent.child.kill("SIGTERM");
    const timer = setTimeout(() => agent.child.kill("SIGKILL"), 15_000);
    const { code, signal } = await agent.exited;
    clearTimeout(timer);
    if (code !== 0) {
      clean = false;
      const tail = agent.output().trim().split("\n").slice(-25).join("\n      ");
      say(`    agent exited with ${signal ?? `code ${code}`} after SIGTERM (expected 0 within 15 s); its output (end):\n      ${tail}`);
    }
  }
  const stopMs = performance.now() - t;
  // The loaders exit when the agent's pipe closes; give them a moment, then end those that did not.
  const deadline = Date.now() + 5000;
  let leftovers = loaders;
  for (;;) {
    const alive = await Promise.all(leftovers.map(stillRunning));
    leftovers = leftovers.filter((_, i) => alive[i]);
    if (leftovers.length === 0 || Date.now() > deadline) break;
    await sleep(100);
  }
  for (const s of leftovers) {
    try {
      process.kill(s.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  return { stopMs, leftovers, clean };
}

// ---------------------------------------------------------------------------------------------
// Kernel time from the probes' cost
// ---------------------------------------------------------------------------------------------

type CostPoint = { kernelTimeNs: number; runs: number; at: number };
const costsOf = (probes: ProbeStatus[]) => new Map(probes.filter((p) => p.cost).map((p) => [p.kind, { kernelTimeNs: p.cost!.kernelTimeNs, runs: p.cost!.kernelRunCount, at: p.cost!.at } as CostPoint]));
type KernelRate = { nsPerMs: number; deltaNs: number; deltaRuns: number; spanMs: number };

/** Per probe, kernel ns per wall ms (and runs) between two cost snapshots (only probes whose cost moved on). */
function kernelRates(before: Map<string, CostPoint>, after: Map<string, CostPoint>): Map<string, KernelRate> {
  const out = new Map<string, KernelRate>();
  for (const [kind, a] of after) {
    const b = before.get(kind);
    if (!b || a.at <= b.at) continue;
    const deltaNs = a.kernelTimeNs - b.kernelTimeNs;
    out.set(kind, { nsPerMs: deltaNs / (a.at - b.at), deltaNs, deltaRuns: a.runs - b.runs, spanMs: a.at - b.at });
  }
  return out;
}

/** Poll until every probe in `kinds` has a cost measured after `afterMs` (unix ms), or the timeout. */
async function costsAfter(agent: RunningAgent, kinds: string[], afterMs: number, timeoutMs: number): Promise<Map<string, CostPoint>> {
  const deadline = Date.now() + timeoutMs;
  let last = new Map<string, CostPoint>();
  for (;;) {
    try {
      last = costsOf((await agent.healthz()).probes ?? []);
    } catch {
      // keep the previous reading
    }
    if (kinds.every((k) => (last.get(k)?.at ?? 0) > afterMs) || Date.now() > deadline) return last;
    await sleep(200);
  }
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

type WithAgent = {
  workload: WorkloadResult;
  idle: { agentPct: number; loadersPct: number; bpfPct: number; totalPct: number; windowS: number; perProbeBpfPct: Map<string, number> };
  rssIdleBytes: number;
  pssIdleBytes: number;
  rssAfterBytes: number;
  /** CPU the agent and its loaders used while the workload ran, % of one core. */
  busy: { agentPct: number; loadersPct: number };
  /** Per probe: BPF kernel time attributable to the workload (ms), its idle rate subtracted. */
  workloadKernelMs: Map<string, number>;
  /** Per probe: mean ns per BPF program run over the intervals covering the workload. */
  nsPerRun: Map<string, number>;
  running: string[];
  unsupported: { kind: string; why: string }[];
  notRunning: { kind: string; state: string; why: string }[];
  loaderRss: Map<string, number>;
  /** Why this round's agent cannot be measured (it stopped answering /healthz, or SIGTERM did not stop it), or null. */
  hung: string | null;
};

async function main(): Promise<void> {
  const cfg = {
    rounds: intEnv("BENCH_ROUNDS", 5),
    probes: process.env.BENCH_PROBES?.trim() || "defaults",
    idleMs: intEnv("BENCH_IDLE_S", 20) * 1000,
    warmupMs: intEnv("BENCH_WARMUP_S", 45, 0) * 1000,
    settleMs: intEnv("BENCH_SETTLE_S", 60) * 1000,
    workloadArgs: (process.env.BENCH_WORKLOAD_ARGS ?? "").split(/\s+/).filter(Boolean),
    ingest: process.env.BENCH_INGEST === "on" ? "on" : "off",
    agentLog: process.env.BENCH_AGENT_LOG || "warn",
    maxDiscards: intEnv("BENCH_MAX_DISCARDS", 3, 0),
  };
  // The probe kinds the agent will run, expanded and checked exactly as the agent does.
  const expected = parseAgentEnv(["--default-probes", cfg.probes], {}).defaultProbes;

  // Teardown, newest first; also on Ctrl-C and on failure.
  const { cleanups, cleanup } = teardownStack();
  const onSignal = (sig: NodeJS.Signals) => {
    process.stderr.write(`\n${sig}: cleaning up\n`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  try {
    say(`bench:overhead: ${cfg.rounds} rounds (ABBA), agent --default-probes ${cfg.probes} (${expected.join(", ") || "none"}), idle window ${cfg.idleMs / 1000} s, workload ${cfg.workloadArgs.join(" ") || "(default sizes)"}, control-plane ingest ${cfg.ingest}`);

    // --- Setup (not timed) ------------------------------------------------------------------
    if (process.getuid?.() !== 0) say("setup: warning: not root; eBPF probes will likely report unsupported (bpf() not permitted)");
    const make = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn("make", ["-C", path.join(REPO, "bpf")], { stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      child.stdout.on("data", (d) => (out += d));
      child.stderr.on("data", (d) => (out += d));
      child.once("error", (e) => resolve({ code: -1, out: e.message }));
      child.once("close", (code) => resolve({ code, out }));
    });
    const built = make.out.split("\n").filter((l) => /^\s+(BPF|CC|BTF)\s/.test(l)).map((l) => l.trim().split(/\s+/).at(-1));
    if (make.code !== 0) {
      // Probes still being written may not compile: the agent reports those unsupported (object missing).
      say(`setup: make -C bpf failed (exit ${make.code}); running with what is built. Its output (end):\n${make.out.trim().split("\n").slice(-15).join("\n")}`);
    } else {
      say(`setup: make -C bpf ok${built.length ? ` (rebuilt ${built.join(", ")})` : " (up to date)"}`);
    }
    // The agent as deployed: bundled (its bin would fall back to tsx, ~40 MB more, if the bundle were stale).
    const bundled = spawnSync(process.execPath, [path.join(REPO, "agent/build.mjs")], { encoding: "utf8" });
    if (bundled.status !== 0) throw new Error(`bundling the agent failed:\n${bundled.stdout}${bundled.stderr}`);
    say("setup: agent bundled (agent/dist/probepilot-agent.mjs)");
    const objects = (await readdir(path.join(REPO, "bpf/build/probes")).catch(() => [] as string[])).filter((f) => f.endsWith(".bpf.o")).map((f) => f.replace(/\.bpf\.o$/, ""));
    say(`setup: probe objects: ${objects.sort().join(", ") || "none"}`);
    await readFile(WORKLOAD_BIN).catch(() => {
      throw new Error(`${WORKLOAD_BIN} is missing: make -C bpf must build bpf/testprogs/workload.c`);
    });

    const h: Harness = await startHarness({ PROBEPILOT_INGEST: cfg.ingest, PROBEPILOT_LOG_LEVEL: "silent" });
    cleanups.push({ name: "stop control plane, nats-server and drop the database", run: () => h.stop() });
    const enrollToken = (await h.client().enrollTokens.create.mutate({ description: "overhead bench" })).token;
    const dataDir = await mkdtemp(path.join(tmpdir(), "pp-overhead-agent-"));
    cleanups.push({ name: "remove agent data dir", run: () => rm(dataDir, { recursive: true, force: true }) });
    say(`setup: nats-server ${h.nats.url}, database ${h.database.name}, control plane ${h.cp.url}, agent data dir ${dataDir}`);

    // The running agent, if any, for cleanup on failure.
    let current: { agent: RunningAgent; loaders: ProcSample[] } | null = null;
    cleanups.push({
      name: "stop the agent",
      run: async () => {
        if (current) await stopAgent(current.agent, current.loaders);
      },
    });

    const warm = await runWorkload(cfg.workloadArgs);
    say(`setup: warm-up workload ${ms(warm.total_ms)} (${warm.syscalls.toLocaleString("en-US")} syscalls, ${warm.connects.toLocaleString("en-US")} connects, ${warm.opens.toLocaleString("en-US")} opens, ${warm.execs.toLocaleString("en-US")} execs)`);

    let enrolled = false;
    const withAgent = async (round: number): Promise<WithAgent> => {
      // 1. start and wait for the probes
      const t0 = performance.now();
      const agent = await spawnAgent({ agentArgs: h.agentArgs, dataDir, probes: cfg.probes, logLevel: cfg.agentLog, ...(enrolled ? {} : { enrollToken }) });
      current = { agent, loaders: [] };
      const deadline = Date.now() + cfg.settleMs;
      const settled = await waitForProbes(agent, deadline, (ps) => expected.every((k) => SETTLED.has(ps.find((p) => p.kind === k)?.state ?? "absent")));
      enrolled = true;
      const running = settled.probes.filter((p) => p.state === "running" || p.state === "verified");
      const unsupported = settled.probes.filter((p) => p.state === "unsupported").map((p) => ({ kind: p.kind, why: p.reason ?? p.error ?? "no reason given" }));
      const notRunning = expected
        .map((k) => settled.probes.find((p) => p.kind === k) ?? { kind: k, state: "absent", error: "not in the agent's /healthz probes" })
        .filter((p) => !SETTLED.has(p.state))
        .map((p) => ({ kind: p.kind, state: p.state, why: ("error" in p && p.error) || ("reason" in p && p.reason) || "" }));
      say(`  [round ${round}] agent pid ${agent.pid}: ${running.length} probes running after ${f1((performance.now() - t0) / 1000)} s` +
        (unsupported.length ? `, ${unsupported.length} unsupported` : "") + (notRunning.length ? `, ${notRunning.length} NOT running (${notRunning.map((p) => `${p.kind}: ${p.state}`).join(", ")})` : ""));
      for (const p of notRunning) say(`    ${p.kind} is ${p.state}: ${p.why.split("\n").slice(0, 3).join(" | ")}`);

      // 2. every eBPF probe has a cost (needs two loader intervals: cpu_profile's are 10 s)
      const bpfKinds = running.filter(isBpf).map((p) => p.kind);
      const withCost = await waitForProbes(agent, Math.max(deadline, Date.now() + 25_000), (ps) => bpfKinds.every((k) => ps.find((p) => p.kind === k)?.cost));
      const noCost = bpfKinds.filter((k) => !withCost.probes.find((p) => p.kind === k)?.cost);
      if (noCost.length) say(`    no cost reported yet by ${noCost.join(", ")} (their kernel time is missing from the figures)`);
      // Node's start-up (compiling the TypeScript, JIT) is not idle cost: measure from BENCH_WARMUP_S after the start on.
      const warmupLeft = cfg.warmupMs - (performance.now() - t0);
      if (warmupLeft > 0) await sleep(warmupLeft);
      const tree0 = await processTree(agent.pid);
      current.loaders = tree0.filter((s) => s.pid !== agent.pid);
      const loaderCount = tree0.filter((s) => s.comm === "ppbpf").length;
      const others = tree0.filter((s) => s.pid !== agent.pid && s.comm !== "ppbpf").map((s) => s.comm);
      say(`  [round ${round}] probes settled and warm after ${f1((performance.now() - t0) / 1000)} s; ${loaderCount} ppbpf loaders${others.length ? ` (and ${others.join(", ")})` : ""}; idle for ${cfg.idleMs / 1000} s`);

      // 3. idle CPU: the process tree's CPU and the probes' kernel time over the window
      const idleCost0 = costsOf(withCost.probes);
      const w0 = performance.now();
      const idleT0 = Date.now();
      const idleTree0 = await processTree(agent.pid);
      await sleep(cfg.idleMs);
      const idleTree1 = await processTree(agent.pid);
      const windowS = (performance.now() - w0) / 1000;
      // A probe whose interval is longer than the window (cpu_profile: 10 s) may not have reported again yet.
      const idleCost1 = await costsAfter(agent, bpfKinds, idleT0 + 500, 12_000);
      const idleRates = kernelRates(idleCost0, idleCost1);
      const idleCpu = cpuDelta(idleTree0, idleTree1, agent.pid);
      const perProbeBpfPct = new Map([...idleRates].map(([k, r]) => [k, (r.nsPerMs / 1e6) * 100]));
      const bpfPct = [...perProbeBpfPct.values()].reduce((s, x) => s + x, 0);
      const idle = { agentPct: (idleCpu.agentSec / windowS) * 100, loadersPct: (idleCpu.childrenSec / windowS) * 100, bpfPct, totalPct: 0, windowS, perProbeBpfPct };
      idle.totalPct = idle.agentPct + idle.loadersPct + idle.bpfPct;

      // 4. RSS of the agent and its loaders, settled and idle
      const rssOf = async (tree: ProcSample[]) => (await Promise.all(tree.map((s) => rssBytes(s.pid)))).reduce((a, b) => a + b, 0);
      const rssIdleBytes = await rssOf(idleTree1);
      const pssIdleBytes = (await Promise.all(idleTree1.map((s) => pssBytes(s.pid)))).reduce((a, b) => a + b, 0);
      const loaderRss = new Map<string, number>();
      for (const s of idleTree1) if (s.pid !== agent.pid) loaderRss.set((await loaderKind(s.pid)) ?? s.comm, await rssBytes(s.pid));

      // 5. the workload with the agent on
      const busyCost0 = await costsAfter(agent, [], 0, 0); // the costs as they are now
      const busyTree0 = await processTree(agent.pid);
      const wStart = performance.now();
      const wStartUnix = Date.now();
      const workload = await runWorkload(cfg.workloadArgs);
      const wEndUnix = Date.now();
      const busySec = (performance.now() - wStart) / 1000;
      const busyTree1 = await processTree(agent.pid);
      const busyCpu = cpuDelta(busyTree0, busyTree1, agent.pid);
      const rssAfterBytes = await rssOf(busyTree1);
      // Kernel time per probe over intervals covering the workload, minus the idle rate over the same span.
      const busyCost1 = await costsAfter(agent, bpfKinds, wEndUnix, 15_000);
      const workloadKernelMs = new Map<string, number>();
      const nsPerRun = new Map<string, number>();
      for (const [kind, r] of kernelRates(busyCost0, busyCost1)) {
        const idleRate = idleRates.get(kind)?.nsPerMs ?? 0;
        workloadKernelMs.set(kind, Math.max(0, r.deltaNs - idleRate * Math.max(0, r.spanMs - (wEndUnix - wStartUnix))) / 1e6);
        if (r.deltaRuns > 0) nsPerRun.set(kind, r.deltaNs / r.deltaRuns);
      }

      // 6. stop
      const unanswered = agent.unanswered();
      const { stopMs, leftovers, clean } = await stopAgent(agent, current.loaders);
      current = null;
      if (leftovers.length) say(`    BUG: ${leftovers.length} child process(es) outlived the agent by 5 s (pids ${leftovers.map((s) => s.pid).join(", ")}); killed`);
      say(`  [round ${round}] agent stopped in ${f1(stopMs / 1000)} s`);

      return {
        workload,
        idle,
        rssIdleBytes,
        pssIdleBytes,
        rssAfterBytes,
        busy: { agentPct: (busyCpu.agentSec / busySec) * 100, loadersPct: (busyCpu.childrenSec / busySec) * 100 },
        workloadKernelMs,
        nsPerRun,
        running: running.map((p) => p.kind),
        unsupported,
        notRunning,
        loaderRss,
        hung: unanswered > 0 || !clean ? [unanswered > 0 ? `/healthz went unanswered ${unanswered} time(s) (5 s timeout)` : "", clean ? "" : "SIGTERM did not stop it"].filter(Boolean).join("; ") : null,
      };
    };

    // --- Rounds ----------------------------------------------------------------------------
    const without: WorkloadResult[] = [];
    const withs: WithAgent[] = [];
    const discarded: string[] = [];
    for (let r = 1; r <= cfg.rounds; r++) {
      const order: ("without" | "with")[] = r % 2 === 1 ? ["without", "with"] : ["with", "without"];
      say(`round ${r}/${cfg.rounds}: ${order.join(" → ")}`);
      let a: WorkloadResult | undefined;
      let b: WithAgent | undefined;
      for (const phase of order) {
        if (phase === "without") {
          a = await runWorkload(cfg.workloadArgs);
          say(`  [round ${r}] without agent: ${ms(a.total_ms)} (syscalls ${ms(a.syscall_ms)}, tcp ${ms(a.tcp_ms)}, opens ${ms(a.open_ms)}, execs ${ms(a.exec_ms)})`);
        } else {
          b = await withAgent(r);
          const w = b.workload;
          say(`  [round ${r}] with agent:    ${ms(w.total_ms)} (syscalls ${ms(w.syscall_ms)}, tcp ${ms(w.tcp_ms)}, opens ${ms(w.open_ms)}, execs ${ms(w.exec_ms)}); agent ${f1(b.busy.agentPct)}% + loaders ${f1(b.busy.loadersPct)}% of a core meanwhile`);
        }
      }
      if (b!.hung) {
        // A stuck agent measures the bug, not the overhead: say so loudly, count it, and run the round again.
        discarded.push(`round ${r}: ${b!.hung}`);
        say(`round ${r}/${cfg.rounds}: DISCARDED, the agent hung (${b!.hung}); idle CPU was ${f1(b!.idle.totalPct)}%. ` +
          (discarded.length > cfg.maxDiscards ? "Too many hung agents: giving up." : `Running round ${r} again (${discarded.length}/${cfg.maxDiscards} discards allowed).`));
        if (discarded.length > cfg.maxDiscards) throw new Error(`the agent hung in ${discarded.length} rounds: ${discarded.join("; ")}`);
        r--;
        continue;
      }
      without.push(a!);
      withs.push(b!);
      const perProbe = [...b!.idle.perProbeBpfPct].sort((x, y) => y[1] - x[1]).map(([k, p]) => `${k} ${f2(p)}`).join(", ");
      say(`round ${r}/${cfg.rounds}: without ${ms(a!.total_ms)}, with ${ms(b!.workload.total_ms)} (${signedPct((b!.workload.total_ms / a!.total_ms - 1) * 100)}) | ` +
        `idle CPU ${f2(b!.idle.totalPct)}% (agent ${f2(b!.idle.agentPct)} + loaders ${f2(b!.idle.loadersPct)} + BPF ${f2(b!.idle.bpfPct)}) | RSS ${f1(b!.rssIdleBytes / 2 ** 20)} MB idle, ${f1(b!.rssAfterBytes / 2 ** 20)} MB after the workload`);
      if (perProbe) say(`    idle BPF kernel time, % of a core: ${perProbe}`);
      const wk = [...b!.workloadKernelMs].sort((x, y) => y[1] - x[1]).map(([k, v]) => `${k} ${f1(v)} ms${b!.nsPerRun.has(k) ? ` (${Math.round(b!.nsPerRun.get(k)!).toLocaleString("en-US")} ns/run)` : ""}`).join(", ");
      if (wk) say(`    BPF kernel time during the workload: ${wk}`);
    }

    // --- Results ---------------------------------------------------------------------------
    const last = withs.at(-1)!;
    const runningCounts = withs.map((w) => w.running.length);
    const n = Math.min(...runningCounts);
    if (new Set(runningCounts).size > 1) say(`note: the number of running probes varied between rounds (${runningCounts.join(", ")}); reporting the smallest`);
    say("");
    say(`probes: ${n} running (${last.running.join(", ")})`);
    if (discarded.length) say(`rounds discarded because the agent hung (a bug, not overhead; see the README): ${discarded.length} (${discarded.join("; ")})`);
    for (const u of last.unsupported) say(`  unsupported: ${u.kind}: ${u.why}`);
    for (const p of last.notRunning) say(`  not running: ${p.kind} (${p.state}): ${p.why.split("\n")[0]}`);

    say("workload medians (without → with agent):");
    for (const part of PARTS) {
      const a = median(without.map((w) => w[part]));
      const b = median(withs.map((w) => w.workload[part]));
      say(`  ${part.replace("_ms", "").padEnd(8)} ${ms(a).padStart(9)} → ${ms(b).padStart(9)}  ${signedPct((b / a - 1) * 100)}`);
    }

    const kinds = [...new Set(withs.flatMap((w) => [...w.idle.perProbeBpfPct.keys(), ...w.workloadKernelMs.keys(), ...w.loaderRss.keys()]))].sort();
    if (kinds.length) {
      const wMedian = median(withs.map((w) => w.workload.total_ms));
      say("per probe (medians over rounds): idle BPF kernel % of a core | BPF kernel ms during the workload (% of its wall time), ns per program run | loader RSS");
      const med = (k: string, pick: (w: WithAgent) => Map<string, number>) => median(withs.flatMap((w) => (pick(w).has(k) ? [pick(w).get(k)!] : [])));
      for (const k of kinds) {
        const isLoader = withs.some((w) => w.running.includes(k));
        if (!isLoader) {
          say(`  ${k.padEnd(20)} (not a probe: another child of the agent) RSS ${f1(med(k, (w) => w.loaderRss) / 2 ** 20)} MB`);
          continue;
        }
        const busyMs = med(k, (w) => w.workloadKernelMs);
        const perRun = med(k, (w) => w.nsPerRun);
        say(`  ${k.padEnd(20)} ${f2(med(k, (w) => w.idle.perProbeBpfPct)).padStart(6)}% | ${f1(busyMs).padStart(7)} ms (${f2((busyMs / wMedian) * 100)}%), ${Number.isFinite(perRun) ? Math.round(perRun).toLocaleString("en-US") : "n/a"} ns/run | ${f1(med(k, (w) => w.loaderRss) / 2 ** 20)} MB`);
      }
    }

    const slowdown = (median(withs.map((w) => w.workload.total_ms)) / median(without.map((w) => w.total_ms)) - 1) * 100;
    const rssMb = median(withs.map((w) => Math.max(w.rssIdleBytes, w.rssAfterBytes))) / 2 ** 20;
    const idleCpu = median(withs.map((w) => w.idle.totalPct));
    say(`idle CPU medians, % of a core: agent ${f2(median(withs.map((w) => w.idle.agentPct)))}, loaders ${f2(median(withs.map((w) => w.idle.loadersPct)))}, BPF kernel ${f2(median(withs.map((w) => w.idle.bpfPct)))}`);
    say(`RSS medians: ${f1(median(withs.map((w) => w.rssIdleBytes)) / 2 ** 20)} MB idle, ${f1(median(withs.map((w) => w.rssAfterBytes)) / 2 ** 20)} MB after the workload (the figure is the larger of the two per round); PSS ${f1(median(withs.map((w) => w.pssIdleBytes)) / 2 ** 20)} MB idle (shared library pages counted once, not once per loader)`);
    const verdict = (ok: boolean) => (ok ? "met" : "NOT met");
    say(`targets: slowdown ≤ ${TARGET_SLOWDOWN_PCT}% ${verdict(slowdown <= TARGET_SLOWDOWN_PCT)}, RSS ≤ ${TARGET_RSS_MB} MB ${verdict(rssMb <= TARGET_RSS_MB)}, idle CPU ≤ ${TARGET_IDLE_CPU_PCT}% ${verdict(idleCpu <= TARGET_IDLE_CPU_PCT)}`);
    await cleanup();
    say(`overhead: workload slowdown ${f1(slowdown)}% with ${n} probes, agent+loaders RSS ${f1(rssMb)} MB, idle CPU ${f1(idleCpu)}%`);
  } finally {
    await cleanup();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`bench:overhead failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
