import { readdir, readFile, readlink } from "node:fs/promises";
import { readFileSync } from "node:fs";

/**
 * What identifies a process across time on Linux: its pid and its start time
 * (clock ticks after boot, field 22 of `/proc/<pid>/stat`). A pid alone may have
 * been reused by an unrelated process since it was recorded; pid plus start time
 * cannot (within one boot).
 */
export type ProcIdentity = { pid: number; startTime: number };
export type ProcInfo = ProcIdentity & { ppid: number; pgid: number; state: string; argv: string[] };

/** The fields of `/proc/<pid>/stat` after `pid (comm) `: comm may hold spaces and parentheses, so split after the last `)`. */
function parseStat(text: string): { state: string; ppid: number; pgid: number; startTime: number } | null {
  const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // rest[0] is field 3 (state); field N is rest[N - 3].
  const [state, ppid, pgid, startTime] = [rest[0], Number(rest[1]), Number(rest[2]), Number(rest[19])];
  return state && Number.isFinite(startTime) ? { state, ppid, pgid, startTime } : null;
}

/** The process `pid` now, or null when there is none (a zombie counts as gone: it runs nothing). */
export async function procInfo(pid: number): Promise<ProcInfo | null> {
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    const stat = parseStat(await readFile(`/proc/${pid}/stat`, "utf8"));
    if (!stat || stat.state === "Z" || stat.state === "X") return null;
    const argv = (await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "")).split("\0");
    if (argv.at(-1) === "") argv.pop(); // cmdline ends with a NUL
    return { pid, ...stat, argv };
  } catch {
    return null;
  }
}

/** This process's identity (synchronous: recorded before anything else is started). */
export function selfIdentity(): ProcIdentity {
  const stat = parseStat(readFileSync("/proc/self/stat", "utf8"));
  return { pid: process.pid, startTime: stat?.startTime ?? 0 };
}

/** The running process recorded as `id`, or null if it has exited (or its pid now belongs to another process). */
export async function stillRunning(id: ProcIdentity): Promise<ProcInfo | null> {
  const now = await procInfo(id.pid);
  return now && now.startTime === id.startTime ? now : null;
}

/** Where the process's working directory is (Postgres runs in its data directory), or null. */
export async function procCwd(pid: number): Promise<string | null> {
  return readlink(`/proc/${pid}/cwd`).catch(() => null);
}

/** This boot's id: start times compare only within one boot. */
export function bootId(): string {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    return "unknown";
  }
}

/** Every pid in /proc now. */
export async function allPids(): Promise<number[]> {
  return (await readdir("/proc")).filter((n) => /^\d+$/.test(n)).map(Number);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Wait until the process `id` has exited, up to `ms`; true if it did. */
export async function waitForExit(id: ProcIdentity, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (!(await stillRunning(id))) return true;
    if (Date.now() >= deadline) return false;
    await sleep(50);
  }
}

export type StopPlan = { signals: { signal: NodeJS.Signals; waitMs: number }[]; killGroup?: boolean };
export type StopOutcome = "gone" | "stopped" | "killed" | "survived";

/**
 * Stop the process `id` with each signal in turn, waiting after each, then SIGKILL
 * (its whole process group too when `killGroup` and it leads one). Every signal
 * goes only to the very process recorded: the identity is checked before each.
 */
export async function stopProcess(id: ProcIdentity, plan: StopPlan): Promise<StopOutcome> {
  const first = await stillRunning(id);
  if (!first) return "gone";
  for (const { signal, waitMs } of plan.signals) {
    if (!(await stillRunning(id))) return "stopped";
    try {
      process.kill(id.pid, signal);
    } catch {
      return "stopped";
    }
    if (await waitForExit(id, waitMs)) return "stopped";
  }
  const last = await stillRunning(id);
  if (!last) return "stopped";
  try {
    process.kill(plan.killGroup && last.pgid === id.pid ? -id.pid : id.pid, "SIGKILL");
  } catch {
    /* gone meanwhile */
  }
  return (await waitForExit(id, 5000)) ? "killed" : "survived";
}
