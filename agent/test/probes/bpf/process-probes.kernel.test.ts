import { afterEach, expect, it } from "vitest";
import { spawn, spawnSync } from "node:child_process";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { TelemetryEvent } from "@probepilot/shared";
import { describeKernel, startProbe, type RunningProbe } from "./support/probe-harness.ts";

let running: RunningProbe | null = null;
afterEach(async () => {
  await running?.stop();
  running = null;
});

const events = (name: string) => (all: { events?: TelemetryEvent[] }[]) => all.flatMap((c) => c.events ?? []).filter((e) => e.name === name);

/** Run a command to completion; its pid is what the probes report. */
function run(cmd: string, args: string[]): Promise<{ pid: number; code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: "ignore" });
    child.once("error", reject);
    child.once("exit", (code, signal) => resolve({ pid: child.pid!, code, signal }));
  });
}

describeKernel("process_exec (sched:sched_process_exec)", () => {
  it("sees /bin/true run with its arguments, parent and uid", async () => {
    running = await startProbe("process_exec", { comm: "true", intervalMs: 200 });
    const { pid } = await run("/bin/true", ["alpha", "beta gamma"]);
    const seen = await running.until((all) => events("process_exec")(all).find((e) => e.attrs.pid === pid), `process_exec of pid ${pid}`);
    expect(seen.attrs).toMatchObject({ pid, ppid: process.pid, uid: process.getuid!(), comm: "true", argc: 3, argsTruncated: false });
    expect(seen.attrs.filename).toBe("/bin/true");
    expect(seen.attrs.args).toBe('/bin/true alpha "beta gamma"');
    expect(Math.abs(seen.at - Date.now())).toBeLessThan(10_000);
  });

  it("marks a command line longer than the record holds as truncated", async () => {
    running = await startProbe("process_exec", { comm: "true", intervalMs: 200 });
    const long = Array.from({ length: 100 }, (_, i) => `argument-${i}`);
    const { pid } = await run("/bin/true", long);
    const seen = await running.until((all) => events("process_exec")(all).find((e) => e.attrs.pid === pid), `process_exec of pid ${pid}`);
    expect(seen.attrs.argsTruncated).toBe(true);
    expect(seen.attrs.argc).toBeGreaterThan(10);
    expect(String(seen.attrs.args).startsWith("/bin/true argument-0 argument-1 ")).toBe(true);
  });
});

describeKernel("process_exit (sched:sched_process_exit)", () => {
  it("sees the exit code of a process, and the signal that killed another", async () => {
    running = await startProbe("process_exit", { comm: "sh", intervalMs: 200 });
    const exited = await run("/bin/sh", ["-c", "sleep 0.2; exit 7"]);
    const killed = await run("/bin/sh", ["-c", "kill -9 $$"]);
    expect(exited.code).toBe(7);
    expect(killed.signal).toBe("SIGKILL");
    const byPid = async (pid: number) => running!.until((all) => events("process_exit")(all).find((e) => e.attrs.pid === pid), `process_exit of pid ${pid}`);
    const a = await byPid(exited.pid);
    expect(a.attrs).toMatchObject({ pid: exited.pid, ppid: process.pid, comm: "sh", exitCode: 7, signal: 0 });
    expect(a.attrs.durationMs).toBeGreaterThanOrEqual(150);
    expect(a.attrs.durationMs).toBeLessThan(10_000);
    expect((await byPid(killed.pid)).attrs).toMatchObject({ exitCode: 0, signal: 9 });
    const outcomes = await running.until(
      (all) => {
        const series = all.flatMap((c) => c.series ?? []).filter((s) => s.metric === "process_exits_total");
        const latest = (outcome: string) => series.filter((s) => s.labels.outcome === outcome).at(-1)?.points[0]?.[1];
        return latest("error") !== undefined && latest("signal") !== undefined ? { error: latest("error")!, signal: latest("signal")! } : undefined;
      },
      "process_exits_total by outcome",
    );
    expect(outcomes.error).toBeGreaterThanOrEqual(1);
    expect(outcomes.signal).toBeGreaterThanOrEqual(1);
  });
});

describeKernel("file_open (syscalls:sys_enter/exit_openat)", () => {
  it("sees a temp path opened (with its fd) and a failed open (with its errno), only under the path prefix", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "pp-open-"));
    try {
      running = await startProbe("file_open", { pid: process.pid, pathPrefix: dir, intervalMs: 200 });
      const file = path.join(dir, "present.txt");
      const handle = await open(file, "w");
      const fd = handle.fd;
      await handle.close();
      await open(path.join(dir, "absent.txt"), "r").catch(() => {});
      await open("/etc/hostname", "r").then((h) => h.close()); // outside the prefix: not reported
      const opened = await running.until((all) => events("file_open")(all).find((e) => e.attrs.path === file), `file_open of ${file}`);
      expect(opened.attrs).toMatchObject({ pid: process.pid, ret: fd, error: null, uid: process.getuid!() });
      const failed = await running.until((all) => events("file_open")(all).find((e) => e.attrs.path === path.join(dir, "absent.txt")), "failed open");
      expect(failed.attrs).toMatchObject({ ret: -2, error: "ENOENT" });
      expect(events("file_open")(running.emitted).every((e) => String(e.attrs.path).startsWith(dir))).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("reports only failures with failedOnly", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "pp-open-"));
    try {
      running = await startProbe("file_open", { pid: process.pid, pathPrefix: dir, failedOnly: true, intervalMs: 200 });
      await (await open(path.join(dir, "ok.txt"), "w")).close();
      await open(path.join(dir, "missing.txt"), "r").catch(() => {});
      await running.until((all) => events("file_open")(all).find((e) => e.attrs.error === "ENOENT"), "the failed open");
      expect(events("file_open")(running.emitted).map((e) => e.attrs.path)).toEqual([path.join(dir, "missing.txt")]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describeKernel("probe filters", () => {
  it("a comm filter keeps other programs out", async () => {
    running = await startProbe("process_exec", { comm: "true", intervalMs: 200 });
    const other = await run("/bin/echo", ["not-me"]);
    const mine = await run("/bin/true", []);
    await running.until((all) => events("process_exec")(all).find((e) => e.attrs.pid === mine.pid), "the /bin/true exec");
    expect(events("process_exec")(running.emitted).some((e) => e.attrs.pid === other.pid)).toBe(false);
    expect(spawnSync("/bin/true").status).toBe(0);
  });
});
