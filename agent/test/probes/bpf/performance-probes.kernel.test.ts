import { afterEach, expect, it } from "vitest";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import path from "node:path";
import readline from "node:readline";
import type { Histogram, MetricSeries } from "@probepilot/shared";
import { DEFAULT_BPF_DIR } from "../../../src/probes/bpf/bpf-catalog.ts";
import { describeKernel, startProbe, type RunningProbe } from "./support/probe-harness.ts";

const testprog = (name: string) => path.join(process.env.PROBEPILOT_BPF_DIR ?? DEFAULT_BPF_DIR, "testprogs", name);

let running: RunningProbe | null = null;
const children: ChildProcess[] = [];
afterEach(async () => {
  await running?.stop();
  running = null;
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill("SIGKILL");
});

const histograms = (metric: string) => (all: { histograms?: Histogram[] }[]) => all.flatMap((c) => c.histograms ?? []).filter((h) => h.metric === metric);
const series = (metric: string) => (all: { series?: MetricSeries[] }[]) => all.flatMap((c) => c.series ?? []).filter((s) => s.metric === metric);

/** Start a test program and read the pid it prints first. */
async function startTestProgram(name: string, args: string[]): Promise<{ child: ChildProcess; pid: number; lines: AsyncIterableIterator<string> }> {
  const child = spawn(testprog(name), args, { stdio: ["pipe", "pipe", "inherit"] });
  children.push(child);
  const lines = readline.createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const first = await lines.next();
  return { child, pid: Number(first.value), lines };
}

describeKernel("syscall_counts (raw_syscalls:sys_enter)", () => {
  it("counts exactly the number of getppid calls a test process makes", async () => {
    const N = 4321;
    const prog = await startTestProgram("syscaller", [String(N)]);
    running = await startProbe("syscall_counts", { pid: prog.pid, intervalMs: 200 });
    prog.child.stdin!.write("go\n");
    expect((await prog.lines.next()).value).toBe("done");
    const count = await running.until((all) => {
      const s = series("syscalls_total")(all).filter((x) => x.labels.pid === String(prog.pid) && x.labels.syscall === "getppid");
      const latest = s.at(-1)?.points[0]?.[1];
      return latest !== undefined && latest >= N ? latest : undefined;
    }, "getppid count of the syscaller");
    // Let one more interval pass: the total must not grow past N.
    await new Promise((r) => setTimeout(r, 500));
    const final = series("syscalls_total")(running.emitted).filter((x) => x.labels.pid === String(prog.pid) && x.labels.syscall === "getppid").at(-1)!.points[0]![1];
    expect(count).toBe(N);
    expect(final).toBe(N);
    expect(series("syscalls_total")(running.emitted).find((x) => x.labels.pid === String(prog.pid))!.labels.comm).toBe("syscaller");
    prog.child.stdin!.end();
  });
});

describeKernel("cpu_profile (perf event sampling)", () => {
  it("finds the busy function of a test program by its symbol, with the process's comm at the root", async () => {
    const prog = await startTestProgram("busy", ["6"]);
    running = await startProbe("cpu_profile", { pid: prog.pid, sampleHz: 99, intervalMs: 1000 });
    const stacks = await running.until((all) => {
      const mine = all.flatMap((c) => c.profiles ?? []).filter((p) => p.pid === prog.pid).flatMap((p) => p.stacks);
      return mine.reduce((n, [, c]) => n + c, 0) >= 100 ? mine : undefined;
    }, "100 samples of the busy program", 20_000);
    const total = stacks.reduce((n, [, c]) => n + c, 0);
    const hot = stacks.filter(([s]) => s.split(";").includes("probepilot_busy_loop")).reduce((n, [, c]) => n + c, 0);
    expect(hot / total).toBeGreaterThan(0.9);
    expect(stacks.every(([s]) => s.startsWith("busy;"))).toBe(true);
    // The function is called from main: the user stack unwound through frame pointers.
    expect(stacks.some(([s]) => /(^|;)main;probepilot_busy_loop(;|$)/.test(s))).toBe(true);
  });
});

describeKernel("runqueue_latency (sched_wakeup/sched_switch)", () => {
  it("has samples, some of them milliseconds long, when more busy tasks than CPUs compete", async () => {
    running = await startProbe("runqueue_latency", { comm: "busy", intervalMs: 500 });
    const cpus = Number(spawnSync("nproc", { encoding: "utf8" }).stdout.trim());
    for (let i = 0; i < cpus * 2; i++) await startTestProgram("busy", ["3"]);
    const merged = await running.until((all) => {
      const h = histograms("runqueue_latency")(all);
      const count = h.reduce((n, x) => n + x.count, 0);
      return count >= 20 ? h : undefined;
    }, "20 run-queue latency samples", 20_000);
    // 2× oversubscribed CPUs: tasks wait whole scheduler slices (milliseconds) for their turn.
    const slowest = Math.max(...merged.map((h) => h.buckets.length - 1));
    expect(2 ** slowest).toBeGreaterThanOrEqual(1000);
    for (const h of merged) expect(h.buckets.reduce((a, b) => a + b, 0)).toBe(h.count);
  });
});

describeKernel("block_io_latency (block_rq_issue/complete)", () => {
  it("has write latencies on the root device for direct I/O by dd", async () => {
    const dir = await mkdtemp(path.join("/var/tmp", "pp-bio-"));
    try {
      running = await startProbe("block_io_latency", { comm: "dd", intervalMs: 500 });
      const dd = spawnSync("dd", ["if=/dev/zero", `of=${path.join(dir, "f")}`, "bs=4k", "count=300", "oflag=direct"], { encoding: "utf8" });
      expect(dd.status, dd.stderr).toBe(0);
      const writes = await running.until((all) => {
        const w = histograms("block_io_latency")(all).filter((h) => h.labels.op === "write");
        return w.reduce((n, h) => n + h.count, 0) >= 300 ? w : undefined;
      }, "300 direct writes", 20_000);
      const root = spawnSync("findmnt", ["-n", "-o", "SOURCE", "--target", dir], { encoding: "utf8" }).stdout.trim().replace(/^\/dev\//, "");
      expect(writes.map((h) => h.labels.device)).toContain(root);
      const total = writes.reduce((n, h) => n + h.count, 0);
      expect(total).toBeGreaterThanOrEqual(300);
      expect(total).toBeLessThan(400); // 300 O_DIRECT writes, plus at most journal/metadata writes dd itself triggered
      expect(writes.every((h) => h.unit === "us" && h.sum > 0)).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

