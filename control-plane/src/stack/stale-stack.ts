import { lstat, readFile, realpath, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { watchOverChild, type ChildWatchdog } from "./child-watchdog.ts";
import { allPids, bootId, procCwd, procInfo, selfIdentity, stillRunning, stopProcess, type ProcInfo, type StopPlan } from "./proc-info.ts";

/**
 * `<data dir>/stack.json`: which `npm start` owns the data directory and which
 * processes it started, each with its start time so that a recorded pid is never
 * mistaken for an unrelated process that got the same pid later.
 *
 * A start claims the data directory (`claimStackDir`):
 * - the recorded stack is still running → the start is refused with a message
 *   (a second `npm start` never kills a live stack);
 * - it is gone (killed with SIGKILL, OOM-killed, a crash) → what it left is
 *   stopped: its recorded children still running (agent, nats-server, then
 *   Postgres with a fast shutdown), a Postgres still running on the data
 *   directory (`postmaster.pid`), and a nats-server or agent still using the
 *   data directory that the record missed (a stack from before stack.json); a
 *   `postmaster.pid` whose process is gone is removed. Every finding is printed.
 * Then the start records itself and, as it starts them, its children; a clean
 * stop removes the file. Postgres and nats-server also get a watchdog
 * (child-watchdog.ts) that stops them when the stack dies, and the local agent
 * exits by itself (`PROBEPILOT_EXIT_WITH_PARENT=1`), so usually nothing is left
 * for the next start to find.
 */

export const STACK_FILE = "stack.json";

export type StackRole = "postgres" | "nats-server" | "agent";

const IdentitySchema = z.object({ pid: z.number().int().positive(), startTime: z.number().int().nonnegative() });
const ChildSchema = IdentitySchema.extend({ role: z.enum(["postgres", "nats-server", "agent"]), command: z.string() });
const StackRecordSchema = z.object({
  version: z.literal(1),
  bootId: z.string(),
  stack: IdentitySchema.extend({ command: z.string() }),
  startedAt: z.string(),
  url: z.string().optional(),
  children: z.array(ChildSchema),
});
type StackRecord = z.infer<typeof StackRecordSchema>;
type ChildRecord = z.infer<typeof ChildSchema>;

/** How each kind of child is stopped: the signal it shuts down cleanly on, then harder ones. */
const STOP_PLANS: Record<StackRole, StopPlan> = {
  // The agent says goodbye and stops its probes on SIGTERM; its ppbpf loaders are in its process group.
  agent: { signals: [{ signal: "SIGTERM", waitMs: 15_000 }], killGroup: true },
  "nats-server": { signals: [{ signal: "SIGTERM", waitMs: 10_000 }] },
  // SIGINT = fast shutdown (clean, does not wait for clients); SIGQUIT = immediate (crash recovery on next start).
  postgres: { signals: [{ signal: "SIGINT", waitMs: 30_000 }, { signal: "SIGQUIT", waitMs: 5_000 }] },
};
const LABEL: Record<StackRole, string> = { agent: "the local agent", "nats-server": "nats-server", postgres: "Postgres" };
const STOP_ORDER: StackRole[] = ["agent", "nats-server", "postgres"];

export class StackAlreadyRunningError extends Error {
  override readonly name = "StackAlreadyRunningError";
}

export type StackClaim = {
  /** Record a child the stack just started (replacing an earlier one of the same role) and, for Postgres and nats-server, arm its watchdog. */
  child: (role: StackRole, pid: number | undefined) => Promise<void>;
  /** After a clean stop: disarm the watchdogs and remove stack.json (if it is still this stack's). */
  release: () => Promise<void>;
};

const commandOf = (p: ProcInfo) => p.argv.join(" ").slice(0, 400);

/**
 * Take the data directory for this stack: refuse if a live stack has it, clean up
 * after a dead one, then record this one. `say` prints a line for the user.
 */
export async function claimStackDir(dataDir: string, opts: { url?: string; say: (line: string) => void }): Promise<StackClaim> {
  const file = path.join(dataDir, STACK_FILE);
  const self = selfIdentity();
  const previous = await readRecord(file, opts.say);
  await cleanUpAfter(dataDir, previous, opts.say);

  const selfInfo = await procInfo(self.pid);
  const record: StackRecord = {
    version: 1,
    bootId: bootId(),
    stack: { ...self, command: selfInfo ? commandOf(selfInfo) : "" },
    startedAt: new Date().toISOString(),
    ...(opts.url ? { url: opts.url } : {}),
    children: [],
  };
  const watchdogs = new Map<StackRole, ChildWatchdog>();
  let writing: Promise<void> = Promise.resolve();
  const write = () =>
    (writing = writing.then(async () => {
      const tmp = `${file}.${process.pid}.tmp`;
      await writeFile(tmp, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o644 });
      await rename(tmp, file);
    }));
  await write();

  return {
    child: async (role, pid) => {
      if (!pid) return;
      const info = await procInfo(pid);
      if (!info) return; // already gone: nothing to record
      record.children = [...record.children.filter((c) => c.role !== role), { role, pid, startTime: info.startTime, command: commandOf(info) }];
      if (role !== "agent") {
        watchdogs.get(role)?.disarm();
        watchdogs.set(role, watchOverChild(info, role === "postgres" ? "INT" : "TERM", STOP_PLANS[role].signals[0]!.waitMs));
      }
      // Never fails the stack: without the record, the next start still finds leftovers by their data dir.
      await write().catch((e: Error) => opts.say(`  (could not update ${file}: ${e.message})`));
    },
    release: async () => {
      for (const w of watchdogs.values()) w.disarm();
      await writing.catch(() => {});
      const onDisk = await readRecord(file, () => {});
      if (onDisk && onDisk.stack.pid === self.pid && onDisk.stack.startTime === self.startTime) await rm(file, { force: true });
    },
  };
}

async function readRecord(file: string, say: (line: string) => void): Promise<StackRecord | null> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    return null;
  }
  try {
    return StackRecordSchema.parse(JSON.parse(text));
  } catch {
    say(`• ignoring ${file}: not a stack record this version understands`);
    return null;
  }
}

/** Stop what a dead stack left on `dataDir`; throw StackAlreadyRunningError if a live one has it. */
async function cleanUpAfter(dataDir: string, previous: StackRecord | null, say: (line: string) => void): Promise<void> {
  const sameBoot = previous?.bootId === bootId();
  if (previous && sameBoot && (await stillRunning(previous.stack))) {
    const { pid } = previous.stack;
    throw new StackAlreadyRunningError(
      `ProbePilot is already running on the data directory ${dataDir} (pid ${pid}, started ${previous.startedAt}${previous.url ? `, ${previous.url}` : ""}). ` +
        `Stop it first (Ctrl-C in its terminal, or kill -INT ${pid}), or start another one with a different PROBEPILOT_DATA_DIR and ports.`,
    );
  }

  const lines: string[] = [];
  // 1. The children the dead stack recorded, in stop order (agent, NATS, Postgres).
  const recorded = sameBoot ? (previous?.children ?? []) : [];
  const handled = new Set<number>();
  for (const role of STOP_ORDER) {
    for (const c of recorded.filter((r) => r.role === role)) {
      const outcome = await stopProcess(c, STOP_PLANS[role]);
      handled.add(c.pid);
      if (outcome !== "gone") lines.push(describeStop(role, c.pid, outcome));
    }
  }
  // 2. What the record missed: a stack from before stack.json, or a child started just before the stack died.
  for (const found of await findUnrecorded(dataDir, handled)) {
    if (found.liveStack) {
      throw new StackAlreadyRunningError(
        `ProbePilot is already running on the data directory ${dataDir}: ${LABEL[found.role]} (pid ${found.info.pid}) belongs to the running stack pid ${found.liveStack}. ` +
          `Stop it first (Ctrl-C in its terminal, or kill -INT ${found.liveStack}), or use a different PROBEPILOT_DATA_DIR and ports.`,
      );
    }
    lines.push(describeStop(found.role, found.info.pid, await stopProcess(found.info, STOP_PLANS[found.role]), "not recorded, still using this data directory"));
  }
  // 3. Postgres' own lock file, whose process is gone (Postgres refuses to start while its pid is alive, whatever now runs there).
  const stale = await stalePostmasterPid(dataDir);
  if (stale) {
    await rm(stale.file, { force: true });
    lines.push(`removed a stale ${stale.file} (its pid ${stale.pid} ${stale.why})`);
  }

  if (previous && sameBoot) say(`• the previous ProbePilot (pid ${previous.stack.pid}, started ${previous.startedAt}) did not stop cleanly${lines.length ? "; cleaned up:" : "; it left nothing running"}`);
  else if (lines.length) say("• found processes a previous ProbePilot left behind; cleaned up:");
  for (const line of lines) say(`  - ${line}`);
}

function describeStop(role: StackRole, pid: number, outcome: string, note?: string): string {
  const how = role === "postgres" ? { stopped: "stopped (fast shutdown)", killed: "killed after it ignored SIGINT and SIGQUIT" } : { stopped: "stopped", killed: "killed (SIGKILL) after it ignored SIGTERM" };
  const done = outcome === "survived" ? "could NOT be stopped (still running!)" : outcome === "gone" ? "was gone" : how[outcome as "stopped" | "killed"];
  return `${LABEL[role]} (pid ${pid}${note ? `, ${note}` : ""}) ${done}`;
}

type Unrecorded = { role: StackRole; info: ProcInfo; liveStack: number | null };

/**
 * Processes using `dataDir` that no record named: a postmaster running in
 * `<data dir>/postgres` (its `postmaster.pid`), a nats-server with an argument in
 * `<data dir>/nats` (its store; keep a generated config there too), a
 * `probepilot-agent` with `--data-dir <data dir>/agent`. Only these programs and
 * exactly these paths are considered (a data dir such as /tmp must not match
 * other people's servers); each is reported with its parent pid if that parent
 * is a running stack (then nothing may be stopped).
 */
async function findUnrecorded(dataDir: string, skip: Set<number>): Promise<Unrecorded[]> {
  const found: Unrecorded[] = [];
  const natsDir = path.join(dataDir, "nats");
  const inNatsDir = (arg: string) => arg === natsDir || arg.startsWith(`${natsDir}${path.sep}`);
  const agentDir = path.join(dataDir, "agent");
  const liveStackOf = async (info: ProcInfo) => {
    const parent = info.ppid > 1 ? await procInfo(info.ppid) : null;
    return parent && isStackCommand(parent.argv) ? parent.pid : null;
  };

  const pg = await postmasterOf(dataDir);
  if (pg && !skip.has(pg.pid)) found.push({ role: "postgres", info: pg, liveStack: await liveStackOf(pg) });

  for (const pid of await allPids()) {
    if (pid === process.pid || skip.has(pid) || pid === pg?.pid) continue;
    const info = await procInfo(pid);
    if (!info || info.argv.length === 0) continue;
    const exe = path.basename(info.argv[0]!);
    const role: StackRole | null =
      exe === "nats-server" && info.argv.some(inNatsDir) ? "nats-server"
      : /^node(js)?$/.test(exe) && info.argv.some((a) => /probepilot-agent(\.mjs)?$/.test(a)) && agentDataDir(info.argv) === agentDir ? "agent"
      : null;
    if (role) found.push({ role, info, liveStack: await liveStackOf(info) });
  }
  // Stop order: agent, nats-server, Postgres.
  return found.sort((a, b) => STOP_ORDER.indexOf(a.role) - STOP_ORDER.indexOf(b.role));
}

const agentDataDir = (argv: string[]) => {
  const i = argv.indexOf("--data-dir");
  return i >= 0 ? (argv[i + 1] ?? null) : null;
};

/** The stack's own process: `… control-plane/src/stack/main.ts`. */
const isStackCommand = (argv: string[]) => argv.some((a) => /(^|\/)stack\/main\.ts$/.test(a));

/** `<data dir>/postgres`, resolved (as root it may be a symlink to /var/lib/probepilot/pgdata-…). */
async function pgDataDir(dataDir: string): Promise<string | null> {
  const dir = path.join(dataDir, "postgres");
  if (!(await lstat(dir).catch(() => null))) return null;
  return realpath(dir).catch(() => null);
}

async function readPostmasterPid(dataDir: string): Promise<{ file: string; pid: number; dir: string } | null> {
  const dir = await pgDataDir(dataDir);
  if (!dir) return null;
  const file = path.join(dir, "postmaster.pid");
  const text = await readFile(file, "utf8").catch(() => null);
  if (text === null) return null;
  return { file, pid: Number(text.split("\n")[0]), dir };
}

/** The postmaster running on this data directory: the pid in postmaster.pid, a `postgres` whose working directory is the data directory. */
async function postmasterOf(dataDir: string): Promise<ProcInfo | null> {
  const lock = await readPostmasterPid(dataDir);
  if (!lock) return null;
  const info = await procInfo(lock.pid);
  if (!info || !isPostgres(info)) return null;
  return (await procCwd(lock.pid)) === lock.dir ? info : null;
}

const isPostgres = (info: ProcInfo) => path.basename(info.argv[0] ?? "") === "postgres";

/**
 * postmaster.pid naming a process that is gone or is not Postgres at all (a pid
 * reused after a reboot: Postgres would refuse to start). A live `postgres` there is
 * never called stale, even one this process cannot inspect: Postgres then says why.
 */
async function stalePostmasterPid(dataDir: string): Promise<{ file: string; pid: number; why: string } | null> {
  const lock = await readPostmasterPid(dataDir);
  if (!lock) return null;
  const info = Number.isInteger(lock.pid) && lock.pid > 0 ? await procInfo(lock.pid) : null;
  if (info && isPostgres(info)) return null;
  return { file: lock.file, pid: lock.pid, why: info ? `is now another program: ${path.basename(info.argv[0] ?? "?")}` : "is gone" };
}

/** For the stack's entry point: print why the start is refused and exit 1 (nothing was started). */
export function refuseToStart(error: unknown): never {
  process.stdout.write(`\nProbePilot could not start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
