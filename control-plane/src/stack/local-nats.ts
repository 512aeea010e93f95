import { spawn } from "node:child_process";
import { open } from "node:fs/promises";
import type { LocalNatsConfig } from "../nats/trust/local-server.ts";
import { canConnect } from "./tcp.ts";

export type LocalNats = { url: string; caFile?: string; pid: number | undefined; stop: () => Promise<void>; kill: () => void };

export class MissingNatsServerError extends Error {
  override readonly name = "MissingNatsServerError";
  constructor(options?: { cause?: unknown }) {
    super("nats-server was not found on PATH: install it (Debian/Ubuntu: `apt-get install nats-server`), or set NATS_URL to a running NATS with JetStream", options);
  }
}

/**
 * A local nats-server running `config` (operator mode with TLS: `writeLocalNatsConfig`),
 * listening on `port`; its output goes to `logFile`.
 */
export async function startLocalNats(opts: { port: number; config: LocalNatsConfig; logFile: string }): Promise<LocalNats> {
  const logHandle = await open(opts.logFile, "a");
  // Own process group: Ctrl-C reaches only the stack, which stops NATS after the control plane.
  const child = spawn("nats-server", ["-c", opts.config.configFile], { stdio: ["ignore", logHandle.fd, logHandle.fd], detached: true });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  // Ready when the port accepts connections; failed if the process cannot start or exits first.
  let gaveUp = false;
  const failed = new Promise<never>((_, reject) => {
    child.once("error", (e: NodeJS.ErrnoException) => reject(e.code === "ENOENT" ? new MissingNatsServerError({ cause: e }) : e));
    void exited.then((code) => reject(new Error(`nats-server exited with code ${code} before accepting connections; see ${opts.logFile} (is port ${opts.port} taken? set PROBEPILOT_NATS_PORT)`)));
  });
  const listening = (async () => {
    while (!gaveUp && !(await canConnect(opts.port))) await new Promise((r) => setTimeout(r, 50));
  })();
  try {
    await Promise.race([listening, failed]);
  } finally {
    gaveUp = true;
  }
  return {
    url: opts.config.url,
    ...(opts.config.caFile ? { caFile: opts.config.caFile } : {}),
    pid: child.pid,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
      await logHandle.close();
    },
    kill: () => void child.kill("SIGKILL"),
  };
}
