import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort, waitForPort } from "./free-port.ts";

export type TestNatsServer = {
  url: string;
  port: number;
  storeDir: string;
  process: ChildProcess;
  /** Stop the server for good and remove its store (teardown). */
  stop: () => Promise<void>;
  /** Stop and start again on the same port and store. */
  restart: () => Promise<void>;
  /** Stop the server but keep port and store, for an outage of any length; `start()` brings it back. */
  halt: () => Promise<void>;
  /** Start a halted server again on the same port and store (a no-op while it runs). */
  start: () => Promise<void>;
};

/**
 * A real `nats-server -js` on a free port with its own temp store: one per suite,
 * stopped (and its store removed) in teardown. `restart`, and `halt` then `start`,
 * keep port and store, to test reconnects and outages.
 */
export async function startNatsServer(): Promise<TestNatsServer> {
  const port = await freePort();
  const storeDir = await mkdtemp(path.join(tmpdir(), "pp-nats-"));
  const launch = async () => {
    const child = spawn("nats-server", ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", storeDir], { stdio: "ignore" });
    const failed = new Promise<never>((_, reject) => child.once("error", (e) => reject(new Error(`cannot start nats-server (is the nats-server package installed?): ${e.message}`))));
    await Promise.race([waitForPort(port), failed]);
    return child;
  };
  const kill = (child: ChildProcess) =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
    });
  const server: TestNatsServer = {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    process: await launch(),
    stop: async () => {
      await kill(server.process);
      await rm(storeDir, { recursive: true, force: true });
    },
    restart: async () => {
      await kill(server.process);
      server.process = await launch();
    },
    halt: () => kill(server.process),
    start: async () => {
      if (server.process.exitCode === null && server.process.signalCode === null) return;
      server.process = await launch();
    },
  };
  return server;
}
