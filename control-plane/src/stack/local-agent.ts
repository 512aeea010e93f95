import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

const AGENT_BIN = fileURLToPath(new URL("../../../agent/bin/probepilot-agent.mjs", import.meta.url));

export type LocalAgent = { stop: () => Promise<void> };

/**
 * Runs the local `probepilot-agent` as a child process and restarts it with
 * backoff if it dies; its JSON logs go to `logFile`. `enrollToken` is only
 * needed until the agent has stored its identity under `dataDir`.
 */
export async function startLocalAgent(opts: {
  natsUrl: string;
  dataDir: string;
  httpAddr: string;
  logFile: string;
  logLevel: string;
  enrollToken: () => Promise<string>;
  onEvent: (line: string) => void;
}): Promise<LocalAgent> {
  const log: FileHandle = await open(opts.logFile, "a");
  let child: ChildProcess | null = null;
  let stopping = false;
  let backoffMs = 1000;
  let restartTimer: NodeJS.Timeout | null = null;

  const launch = async () => {
    const identityExists = existsSync(path.join(opts.dataDir, "identity.json"));
    const args = [AGENT_BIN, "--nats", opts.natsUrl, "--data-dir", opts.dataDir, "--http", opts.httpAddr, "--label", "env=local", "--log-level", opts.logLevel];
    if (!identityExists) args.push("--enroll-token", await opts.enrollToken());
    const startedAt = Date.now();
    child = spawn(process.execPath, args, { stdio: ["ignore", log.fd, log.fd] });
    child.once("exit", (code, signal) => {
      child = null;
      if (stopping) return;
      if (Date.now() - startedAt > 60_000) backoffMs = 1000;
      opts.onEvent(`local agent exited (${signal ?? `code ${code}`}); restarting in ${backoffMs / 1000}s — see ${opts.logFile}`);
      restartTimer = setTimeout(() => void launch(), backoffMs);
      backoffMs = Math.min(backoffMs * 2, 30_000);
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
  };
}
