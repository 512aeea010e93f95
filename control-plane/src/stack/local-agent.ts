import { spawn, type ChildProcess } from "node:child_process";
import { open, type FileHandle } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { Backoff } from "@probepilot/shared";

const AGENT_BIN = fileURLToPath(new URL("../../../agent/bin/probepilot-agent.mjs", import.meta.url));
/** The agent's exit code when it was revoked (agent/src/identity/enroll.ts): it must not be restarted. */
const EXIT_REVOKED = 78;

export type LocalAgent = { stop: () => Promise<void>; kill: () => void };

/**
 * Runs the local `probepilot-agent` as a child process and restarts it with
 * backoff if it dies; its JSON logs go to `logFile`. It always gets an enrollment
 * token (in its environment, not on the command line where `ps` shows it): the
 * agent uses it only when it has no identity yet or its identity is refused
 * (say, the stack was pointed at another database).
 */
export async function startLocalAgent(opts: {
  natsUrl: string;
  /** CA of the local NATS server's TLS certificate. */
  caFile?: string;
  /** Where it enrolls. */
  controlPlaneUrl: string;
  dataDir: string;
  httpAddr: string;
  logFile: string;
  logLevel: string;
  enrollToken: () => Promise<string>;
  onEvent: (line: string) => void;
  /** Each (re)launch's pid, for the stack's record (stale-stack.ts). */
  onSpawn?: (pid: number | undefined) => void;
}): Promise<LocalAgent> {
  const log: FileHandle = await open(opts.logFile, "a");
  let child: ChildProcess | null = null;
  let stopping = false;
  const backoff = new Backoff(1000, 30_000);
  let restartTimer: NodeJS.Timeout | null = null;

  const restartLater = (why: string) => {
    if (stopping) return;
    const waitMs = backoff.next();
    opts.onEvent(`local agent ${why}; restarting in ${(waitMs / 1000).toFixed(1)}s — see ${opts.logFile}`);
    restartTimer = setTimeout(() => void launch(), waitMs);
  };

  const launch = async () => {
    let token: string;
    try {
      token = await opts.enrollToken();
    } catch (error) {
      return restartLater(`could not get an enrollment token (${(error as Error).message})`);
    }
    if (stopping) return;
    const startedAt = Date.now();
    const args = ["--nats", opts.natsUrl, "--control-plane", opts.controlPlaneUrl, ...(opts.caFile ? ["--ca", opts.caFile] : []), "--data-dir", opts.dataDir, "--http", opts.httpAddr, "--label", "env=local", "--log-level", opts.logLevel];
    child = spawn(process.execPath, [AGENT_BIN, ...args], {
      stdio: ["ignore", log.fd, log.fd],
      // PROBEPILOT_EXIT_WITH_PARENT: the agent stops by itself if the stack dies without stopping it (kill -9).
      env: { ...process.env, PROBEPILOT_ENROLL_TOKEN: token, PROBEPILOT_EXIT_WITH_PARENT: String(process.pid) },
      // Own process group: Ctrl-C reaches only the stack, which stops the agent first.
      detached: true,
    });
    opts.onSpawn?.(child.pid);
    child.once("exit", (code, signal) => {
      child = null;
      if (code === EXIT_REVOKED) {
        opts.onEvent(`local agent was revoked; it stays stopped (remove ${opts.dataDir}/identity.json and nats.creds, then restart the stack, to enroll it again)`);
        return;
      }
      if (Date.now() - startedAt > 60_000) backoff.reset();
      restartLater(`exited (${signal ?? `code ${code}`})`);
    });
  };
  await launch();

  return {
    stop: async () => {
      stopping = true;
      if (restartTimer) clearTimeout(restartTimer);
      const running = child;
      if (running) {
        const exited = new Promise((resolve) => running.once("exit", resolve));
        running.kill("SIGTERM");
        const forced = setTimeout(() => running.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(forced);
      }
      await log.close();
    },
    kill: () => {
      stopping = true;
      child?.kill("SIGKILL");
    },
  };
}
