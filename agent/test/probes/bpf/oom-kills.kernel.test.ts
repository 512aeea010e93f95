import { afterEach, expect, it } from "vitest";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, rmdir, writeFile } from "node:fs/promises";
import path from "node:path";
import type { TelemetryEvent } from "@probepilot/shared";
import { describeKernel, startProbe, type RunningProbe } from "./support/probe-harness.ts";

let running: RunningProbe | null = null;
afterEach(async () => {
  await running?.stop();
  running = null;
});

/** The cgroup v1 memory controller (this host mounts v1 controllers next to the unified hierarchy). */
const MEMCG_V1 = "/sys/fs/cgroup/memory";
const LIMIT_BYTES = 32 << 20;
/** The system python (`python3` on PATH may be a pyenv shim script); its comm is `python3` either way. */
const PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

/** A fresh memory cgroup with a 32 MiB limit and no way to swap (so the allocation must hit the OOM killer). */
async function createMemcg(): Promise<string> {
  if (!existsSync(path.join(MEMCG_V1, "memory.limit_in_bytes"))) {
    throw new Error(`the oom_kills test needs the cgroup v1 memory controller mounted at ${MEMCG_V1} (no memory.limit_in_bytes there)`);
  }
  const dir = path.join(MEMCG_V1, `pp-test-${process.pid}-${randomBytes(3).toString("hex")}`);
  await mkdir(dir);
  try {
    await writeFile(path.join(dir, "memory.limit_in_bytes"), String(LIMIT_BYTES));
    // memory+swap limit equal to the memory limit: no swap (zram) to escape to. Absent without swap accounting.
    if (existsSync(path.join(dir, "memory.memsw.limit_in_bytes"))) await writeFile(path.join(dir, "memory.memsw.limit_in_bytes"), String(LIMIT_BYTES));
    else await writeFile(path.join(dir, "memory.swappiness"), "0");
    const oomControl = await readFile(path.join(dir, "memory.oom_control"), "utf8");
    if (!/^oom_kill_disable 0$/m.test(oomControl)) throw new Error(`${dir}/memory.oom_control: expected oom_kill_disable 0, got:\n${oomControl}`);
  } catch (err) {
    await rmdir(dir).catch(() => {});
    throw err;
  }
  return dir;
}

/** rmdir a memory cgroup once its last task is gone (the kernel may take a moment to release it). */
async function removeMemcg(dir: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await rmdir(dir);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return;
      if (code !== "EBUSY" || attempt >= 50) throw new Error(`could not remove the test cgroup ${dir}: ${code}`, { cause: err });
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Wait for a child to end (SIGKILL after `timeoutMs`), with its stderr. */
function exitOf(child: ChildProcess, timeoutMs: number): Promise<{ pid: number; code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    let stderr = "";
    child.stderr?.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ pid: child.pid!, code, signal, stderr });
    });
  });
}

/**
 * The kernel's "Killed process" log line for `pid` (the last one), as oom_kill
 * attributes; null, said on stdout, when the kernel log cannot be read here.
 */
function killedProcessLine(pid: number): Record<string, string | number> | null {
  const dmesg = spawnSync("dmesg", [], { encoding: "utf8", maxBuffer: 64 << 20 });
  if (dmesg.status !== 0) {
    process.stdout.write(`[tests] oom_kills: kernel log unreadable (dmesg: ${dmesg.error?.message ?? dmesg.stderr.trim()}); not comparing with its "Killed process" line\n`);
    return null;
  }
  const re = new RegExp(`Killed process ${pid} \\((.*?)\\) total-vm:(\\d+)kB, anon-rss:(\\d+)kB, file-rss:(\\d+)kB, shmem-rss:(\\d+)kB, UID:(\\d+) .*oom_score_adj:(-?\\d+)`);
  const m = dmesg.stdout.split("\n").reverse().map((l) => re.exec(l)).find((x) => x);
  if (!m) throw new Error(`no "Killed process ${pid}" line in the kernel log although the process was OOM-killed`);
  return { comm: m[1]!, totalVmKb: Number(m[2]), anonRssKb: Number(m[3]), fileRssKb: Number(m[4]), shmemRssKb: Number(m[5]), uid: Number(m[6]), oomScoreAdj: Number(m[7]) };
}

const oomEvents = (all: { events?: TelemetryEvent[] }[]) => all.flatMap((c) => c.events ?? []).filter((e) => e.name === "oom_kill");

describeKernel("oom_kills (oom:mark_victim)", () => {
  it("reports the process the memory-cgroup OOM killer kills, with its memory", async () => {
    const memcg = await createMemcg();
    let child: ChildProcess | undefined;
    try {
      running = await startProbe("oom_kills", { intervalMs: 200 });
      // The shell moves itself into the cgroup, then becomes python (same pid):
      // 200 MiB of written bytes cannot fit under a 32 MiB limit.
      const script = `echo $$ > ${memcg}/cgroup.procs && echo 500 > /proc/self/oom_score_adj && exec ${PYTHON} -c 'b = b"x" * (200 << 20)'`;
      child = spawn("/bin/sh", ["-c", script], { stdio: ["ignore", "ignore", "pipe"] });
      const exited = await exitOf(child, 25_000);
      expect(exited, `the allocating child should be OOM-killed (stderr: ${exited.stderr.trim()})`).toMatchObject({ code: null, signal: "SIGKILL" });
      expect(await readFile(path.join(memcg, "memory.oom_control"), "utf8")).toMatch(/^oom_kill 1$/m);

      const victim = await running.until((all) => oomEvents(all).find((e) => e.attrs.pid === exited.pid), `oom_kill of pid ${exited.pid}`);
      expect(victim.attrs).toMatchObject({ pid: exited.pid, comm: "python3", uid: process.getuid!(), oomScoreAdj: 500, triggerPid: exited.pid, triggerComm: "python3" });
      // The victim's anonymous memory is what it was allowed: more than nothing, at most the limit.
      expect(victim.attrs.anonRssKb).toBeGreaterThan(0);
      expect(victim.attrs.anonRssKb).toBeLessThanOrEqual(LIMIT_BYTES / 1024);
      expect(victim.attrs.totalVmKb).toBeGreaterThan(victim.attrs.anonRssKb as number);
      expect(Math.abs(victim.at - Date.now())).toBeLessThan(10_000);
      // The kernel logs the same numbers when it kills: they must agree exactly.
      const logged = killedProcessLine(exited.pid);
      if (logged) expect(victim.attrs).toMatchObject(logged);

      const total = await running.until((all) => all.flatMap((c) => c.series ?? []).filter((s) => s.metric === "oom_kills_total").at(-1)?.points.at(-1)?.[1], "oom_kills_total");
      expect(total).toBeGreaterThanOrEqual(1);
    } finally {
      if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await removeMemcg(memcg);
    }
  });
});
