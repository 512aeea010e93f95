import { afterAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { claimStackDir, StackAlreadyRunningError, STACK_FILE } from "../../src/stack/stale-stack.ts";
import { bootId, procInfo, selfIdentity, stillRunning } from "../../src/stack/proc-info.ts";
import { freePort, waitForPort } from "@probepilot/testkit/free-port";

/**
 * claimStackDir on its own, with real processes but no stack: what it stops and,
 * above all, what it must never stop (the full stack after kill -9 is in
 * stack-recovery.integration.test.ts).
 */
const spawned: ChildProcess[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const c of spawned) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(path.join(tmpdir(), "pp-stale-"));
  dirs.push(d);
  return d;
}

function run(cmd: string, args: string[]): ChildProcess {
  const c = spawn(cmd, args, { stdio: "ignore", detached: true });
  spawned.push(c);
  return c;
}

async function natsOn(storeDir: string): Promise<ChildProcess> {
  const port = await freePort();
  const c = run("nats-server", ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", storeDir]);
  await waitForPort(port);
  return c;
}

const alive = (c: ChildProcess) => c.exitCode === null && c.signalCode === null;

async function writeRecord(dataDir: string, record: object): Promise<void> {
  await writeFile(path.join(dataDir, STACK_FILE), JSON.stringify({ version: 1, startedAt: "2026-01-01T00:00:00.000Z", children: [], ...record }));
}

describe("claimStackDir", () => {
  it("stops a nats-server left on the data dir without a record (a stack from before stack.json), and nothing on a sibling dir", async () => {
    const dataDir = await tempDir();
    const leftover = await natsOn(path.join(dataDir, "nats"));
    const sibling = await natsOn(path.join(`${dataDir}-other`, "nats")); // same prefix, another data dir
    dirs.push(`${dataDir}-other`);
    const lines: string[] = [];
    const claim = await claimStackDir(dataDir, { say: (l) => lines.push(l) });
    expect(lines.join("\n")).toContain(`nats-server (pid ${leftover.pid}, not recorded, still using this data directory) stopped`);
    expect(alive(leftover)).toBe(false);
    expect(alive(sibling)).toBe(true);
    const record = JSON.parse(await readFile(path.join(dataDir, STACK_FILE), "utf8"));
    expect(record.stack).toMatchObject(selfIdentity());
    await claim.release();
    expect(existsSync(path.join(dataDir, STACK_FILE))).toBe(false);
  });

  it("never signals a recorded pid that is now another process (other start time, or another boot)", async () => {
    const dataDir = await tempDir();
    const a = run("sleep", ["60"]);
    const b = run("sleep", ["60"]);
    await new Promise((r) => setTimeout(r, 100));
    const [ia, ib] = [await procInfo(a.pid!), await procInfo(b.pid!)];
    // a: recorded with another start time (its pid was reused); b: recorded right, but in another boot.
    await writeRecord(dataDir, { bootId: bootId(), stack: { pid: 999_999_999, startTime: 1, command: "gone" }, children: [{ role: "nats-server", pid: ia!.pid, startTime: ia!.startTime + 1, command: "x" }] });
    const lines: string[] = [];
    await (await claimStackDir(dataDir, { say: (l) => lines.push(l) })).release();
    expect(lines.join("\n")).toContain("did not stop cleanly; it left nothing running");
    await writeRecord(dataDir, { bootId: "another-boot", stack: { pid: 999_999_999, startTime: 1, command: "gone" }, children: [{ role: "nats-server", pid: ib!.pid, startTime: ib!.startTime, command: "x" }] });
    await (await claimStackDir(dataDir, { say: () => {} })).release();
    expect(await stillRunning(ia!)).not.toBeNull();
    expect(await stillRunning(ib!)).not.toBeNull();
  });

  it("refuses while the recorded stack runs, and leaves its record and children alone", async () => {
    const dataDir = await tempDir();
    const child = run("sleep", ["60"]);
    await new Promise((r) => setTimeout(r, 100));
    const ic = await procInfo(child.pid!);
    const record = { bootId: bootId(), stack: { ...selfIdentity(), command: "this test" }, url: "http://127.0.0.1:7070", children: [{ role: "agent", pid: ic!.pid, startTime: ic!.startTime, command: "sleep 60" }] };
    await writeRecord(dataDir, record);
    const before = await readFile(path.join(dataDir, STACK_FILE), "utf8");
    const attempt = claimStackDir(dataDir, { say: () => {} });
    await expect(attempt).rejects.toBeInstanceOf(StackAlreadyRunningError);
    await expect(attempt).rejects.toThrow(`ProbePilot is already running on the data directory ${dataDir} (pid ${process.pid}, started 2026-01-01T00:00:00.000Z, http://127.0.0.1:7070). Stop it first`);
    expect(alive(child)).toBe(true);
    expect(await readFile(path.join(dataDir, STACK_FILE), "utf8")).toBe(before);
  });

  it("removes a postmaster.pid whose process is gone", async () => {
    const dataDir = await tempDir();
    await mkdir(path.join(dataDir, "postgres"));
    await writeFile(path.join(dataDir, "postgres", "postmaster.pid"), `999999999\n${dataDir}/postgres\n`);
    const lines: string[] = [];
    await (await claimStackDir(dataDir, { say: (l) => lines.push(l) })).release();
    expect(lines.join("\n")).toContain(`removed a stale ${path.join(dataDir, "postgres", "postmaster.pid")} (its pid 999999999 is gone)`);
    expect(existsSync(path.join(dataDir, "postgres", "postmaster.pid"))).toBe(false);
  });
});
