import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

export type NetnsRun = { stdout: string; stderr: string; code: number | null; signal: NodeJS.Signals | null };

/** A network namespace made by a test: its own loopback, its own TCP counters. */
export type Netns = {
  name: string;
  /** Run a command inside the namespace to completion (killed after `timeoutMs`). */
  run(cmd: string, args: string[], timeoutMs?: number): Promise<NetnsRun>;
  /** Absolute values of the namespace's SNMP/netstat counters (`nstat -asz`, which leaves nstat's history file alone). */
  nstat(...names: string[]): Promise<Record<string, number>>;
  /** Delete the namespace (idempotent). Call it in a `finally`/`afterAll`. */
  remove(): Promise<void>;
};

/**
 * Create a network namespace with a unique name and `lo` up. Fails with a
 * readable message when `ip` is missing or the kernel refuses.
 */
export async function createNetns(prefix = "pp-test"): Promise<Netns> {
  const name = `${prefix}-${process.pid}-${randomBytes(3).toString("hex")}`;
  await ip(["netns", "add", name]);
  let removed = false;
  const netns: Netns = {
    name,
    run: (cmd, args, timeoutMs = 25_000) => runIn(name, cmd, args, timeoutMs),
    async nstat(...names) {
      const out = await netns.run("nstat", ["-asz", ...names], 10_000);
      if (out.code !== 0) throw new Error(`nstat in netns ${name} failed (exit ${out.code ?? out.signal}): ${out.stderr.trim()}`);
      const values: Record<string, number> = {};
      for (const line of out.stdout.split("\n")) {
        const m = /^(\w+)\s+(\d+)/.exec(line);
        if (m) values[m[1]!] = Number(m[2]);
      }
      for (const n of names) if (values[n] === undefined) throw new Error(`nstat in netns ${name} did not report ${n}:\n${out.stdout}`);
      return values;
    },
    async remove() {
      if (removed) return;
      removed = true;
      await ip(["netns", "del", name]).catch(() => {});
    },
  };
  try {
    await ip(["-n", name, "link", "set", "lo", "up"]);
  } catch (err) {
    await netns.remove();
    throw err;
  }
  return netns;
}

async function ip(args: string[]): Promise<void> {
  try {
    await execFileAsync("ip", args, { timeout: 10_000 });
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`ip ${args.join(" ")} failed: ${e.stderr?.trim() || e.message} (the network tests need iproute2 and root)`, { cause: err });
  }
}

function runIn(name: string, cmd: string, args: string[], timeoutMs: number): Promise<NetnsRun> {
  return new Promise((resolve, reject) => {
    const child = spawn("ip", ["netns", "exec", name, cmd, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    // A child still running inside the namespace would keep it alive after `ip netns del`.
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code, signal });
    });
  });
}
