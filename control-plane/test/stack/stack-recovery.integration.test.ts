import { afterAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, readlink, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { allPids, procInfo, stillRunning, stopProcess, type ProcIdentity } from "../../src/stack/proc-info.ts";
import { freeStackPorts, removeStackDataDir, stackEnv, type StackPorts } from "@probepilot/testkit/local-stack";
import { REPO_ROOT } from "@probepilot/testkit/bins";

/**
 * The local stack after a crash (issue 11, item 9b): `kill -9` of the stack used to
 * leave Postgres, nats-server and the agent running, and the next start failed on
 * `postmaster.pid`. Each test runs the stack's entry point (what `npm start` hands
 * over to after installing) as a child process on its own data directory and ports.
 */
const dataDirs: string[] = [];
const spawned: ChildProcess[] = [];
const everRecorded: ProcIdentity[] = [];

type Ports = StackPorts;
type StackRecord = { stack: ProcIdentity; children: (ProcIdentity & { role: string })[] };

afterAll(async () => {
  // Whatever a failed test left: the stacks, then every process any of them recorded.
  for (const child of spawned) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  for (const id of everRecorded) await stopProcess(id, { signals: [{ signal: "SIGKILL", waitMs: 2000 }] });
  for (const dir of dataDirs) await removeStackDataDir(dir);
});

async function newStackDir(): Promise<{ dataDir: string; ports: Ports }> {
  const dataDir = await mkdtemp(path.join(tmpdir(), "pp-recovery-"));
  dataDirs.push(dataDir);
  return { dataDir, ports: await freeStackPorts() };
}

function startStack(dataDir: string, ports: Ports, extra: Record<string, string> = {}) {
  const env = stackEnv(dataDir, ports, { PROBEPILOT_LOG_LEVEL: "info", ...extra });
  const child = spawn(process.execPath, ["--import", "tsx", "control-plane/src/stack/main.ts"], { cwd: REPO_ROOT, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  spawned.push(child);
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code, signal) => resolve(code ?? (signal ? -1 : null))));
  return { child, pid: child.pid!, exited, output: () => output };
}
type Stack = ReturnType<typeof startStack>;

async function waitUntil<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined | false>, debug: () => string = () => ""): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${debug().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function readRecord(dataDir: string): Promise<StackRecord> {
  const record = JSON.parse(await readFile(path.join(dataDir, "stack.json"), "utf8")) as StackRecord;
  everRecorded.push(...record.children);
  return record;
}

/** Up and usable: /healthz is 200 and the admin token in the data dir answers `system.whoami`. */
async function usable(dataDir: string, ports: Ports): Promise<true | undefined> {
  const url = `http://127.0.0.1:${ports.http}`;
  if ((await fetch(`${url}/healthz`)).status !== 200) return undefined;
  const token = (await readFile(path.join(dataDir, "admin-token"), "utf8")).trim();
  const whoami = await fetch(`${url}/trpc/system.whoami`, { headers: { authorization: `Bearer ${token}` } });
  return whoami.status === 200 ? true : undefined;
}

async function waitUsableWithChildren(stack: Stack, dataDir: string, ports: Ports, roles: string[]): Promise<StackRecord> {
  await waitUntil("the stack up (healthz, admin token)", 90_000, () => usable(dataDir, ports), stack.output);
  return waitUntil(`stack.json recording ${roles.join(", ")}`, 30_000, async () => {
    const record = await readRecord(dataDir);
    return roles.every((r) => record.children.some((c) => c.role === r)) && record.stack.pid === stack.pid ? record : undefined;
  }, stack.output);
}

/** The watchdogs (child-watchdog.sh) the stack `stackPid` started. */
async function watchdogsOf(stackPid: number): Promise<ProcIdentity[]> {
  const found: ProcIdentity[] = [];
  for (const pid of await allPids()) {
    const info = await procInfo(pid);
    if (info && info.argv.some((a) => a.endsWith("child-watchdog.sh")) && (info.ppid === stackPid || info.argv.includes(String(stackPid)))) found.push(info);
  }
  return found;
}

async function ctrlC(stack: Stack): Promise<void> {
  process.kill(stack.pid, "SIGINT");
  expect(await stack.exited).toBe(0);
}

describe("the local stack after kill -9", () => {
  it("its children die with it (agent by itself, Postgres and NATS by their watchdogs), and the next start comes up", async () => {
    const { dataDir, ports } = await newStackDir();
    // The agent with no probes: what is tested is that it exits with its parent.
    const first = startStack(dataDir, ports, { PROBEPILOT_DEFAULT_PROBES: "none" });
    const record = await waitUsableWithChildren(first, dataDir, ports, ["postgres", "nats-server", "agent"]);
    const watchdogs = await watchdogsOf(first.pid);
    expect(watchdogs).toHaveLength(2); // Postgres and nats-server; the agent watches its parent itself
    // The agent enrolled and running (its /healthz is 200 then), so that it has something to stop cleanly.
    await waitUntil("the local agent healthy", 60_000, async () => (await fetch(`http://127.0.0.1:${ports.agent}/healthz`)).status === 200, first.output);

    process.kill(first.pid, "SIGKILL");
    await first.exited;
    // Nothing of the first run survives it for long: the agent stops cleanly on its own (its goodbye
    // times out with NATS gone), Postgres gets a fast shutdown, nats-server a SIGTERM.
    const agentLogTail = async () => (await readFile(path.join(dataDir, "logs", "agent.log"), "utf8").catch(() => "")).slice(-3000);
    let lastLog = "";
    for (const c of record.children) {
      await waitUntil(`${c.role} (pid ${c.pid}) to exit after its stack was killed`, 30_000, async () => ((lastLog = await agentLogTail()), !(await stillRunning(c))), () => `${first.output()}\nagent.log:\n${lastLog}`);
    }
    for (const w of watchdogs) await waitUntil(`watchdog ${w.pid} to finish`, 10_000, async () => !(await stillRunning(w)));
    const agentLog = await readFile(path.join(dataDir, "logs", "agent.log"), "utf8");
    expect(agentLog).toContain("parent process gone (PROBEPILOT_EXIT_WITH_PARENT): stopping");
    expect(agentLog).toMatch(/"msg":"agent stopped"/);

    const second = startStack(dataDir, ports, { PROBEPILOT_LOCAL_AGENT: "off" });
    await waitUsableWithChildren(second, dataDir, ports, ["postgres", "nats-server"]);
    expect(second.output()).toMatch(new RegExp(`the previous ProbePilot \\(pid ${first.pid}, started [^)]+\\) did not stop cleanly; it left nothing running`));
    await ctrlC(second);
    expect(existsSync(path.join(dataDir, "stack.json"))).toBe(false); // a clean stop removes the record
  }, 180_000);

  it("a start stops what a dead stack left running, refuses while a stack runs, and removes a stale postmaster.pid", async () => {
    const { dataDir, ports } = await newStackDir();
    const off = { PROBEPILOT_LOCAL_AGENT: "off" };
    const first = startStack(dataDir, ports, off);
    const record = await waitUsableWithChildren(first, dataDir, ports, ["postgres", "nats-server"]);
    // The worst case: the watchdogs are killed too, so Postgres and NATS are true orphans.
    for (const w of await watchdogsOf(first.pid)) process.kill(w.pid, "SIGKILL");
    process.kill(first.pid, "SIGKILL");
    await first.exited;
    await new Promise((r) => setTimeout(r, 1000));
    for (const c of record.children) expect(await stillRunning(c), `${c.role} orphaned`).not.toBeNull();

    const second = startStack(dataDir, ports, off);
    await waitUsableWithChildren(second, dataDir, ports, ["postgres", "nats-server"]);
    const pg = record.children.find((c) => c.role === "postgres")!;
    const nats = record.children.find((c) => c.role === "nats-server")!;
    expect(second.output()).toContain(`the previous ProbePilot (pid ${first.pid}`);
    expect(second.output()).toContain(`nats-server (pid ${nats.pid}) stopped`);
    expect(second.output()).toContain(`Postgres (pid ${pg.pid}) stopped (fast shutdown)`);
    for (const c of record.children) expect(await stillRunning(c), `${c.role} of the first run`).toBeNull();

    // A second start while this one runs is refused, and changes nothing.
    const third = startStack(dataDir, ports, off);
    expect(await third.exited).toBe(1);
    expect(third.output()).toContain(`ProbePilot could not start: ProbePilot is already running on the data directory ${dataDir} (pid ${second.pid}`);
    expect(third.output()).toContain(`kill -INT ${second.pid}`);
    expect(await usable(dataDir, ports)).toBe(true);
    expect((await readRecord(dataDir)).stack.pid).toBe(second.pid);
    await ctrlC(second);

    // A postmaster.pid naming a live process that is not Postgres (a pid reused after a crash and
    // a reboot): Postgres would refuse to start. The start removes the file and leaves the process be.
    const impostor = spawn("sleep", ["60"], { stdio: "ignore" });
    spawned.push(impostor);
    const pgData = path.join(dataDir, "postgres");
    const lock = path.join(pgData, "postmaster.pid");
    await writeFile(lock, `${impostor.pid}\n${await readlink(pgData).catch(() => pgData)}\n0\n${ports.pg}\n\n127.0.0.1\n0 0\nready\n`);
    const fourth = startStack(dataDir, ports, off);
    await waitUsableWithChildren(fourth, dataDir, ports, ["postgres"]);
    expect(fourth.output()).toMatch(new RegExp(`removed a stale \\S*postmaster\\.pid \\(its pid ${impostor.pid} is now another program: sleep\\)`));
    expect(impostor.exitCode).toBeNull();
    impostor.kill();
    await ctrlC(fourth);
  }, 180_000);
});
