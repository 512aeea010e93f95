import { lstat, readlink, rm } from "node:fs/promises";
import path from "node:path";
import { freePort } from "./free-port.ts";

/** The local stack's ports: control plane HTTP, embedded Postgres, nats-server, the local agent's /healthz. */
export type StackPorts = { http: number; pg: number; nats: number; agent: number };

export async function freeStackPorts(): Promise<StackPorts> {
  return { http: await freePort(), pg: await freePort(), nats: await freePort(), agent: await freePort() };
}

/**
 * The environment of a local stack (`npm start`) on `dataDir` and `ports`, with its own
 * embedded Postgres and nats-server whatever the test process's environment says.
 */
export function stackEnv(dataDir: string, ports: StackPorts, extra: Record<string, string> = {}): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {
    ...process.env,
    PROBEPILOT_DATA_DIR: dataDir,
    PROBEPILOT_PORT: String(ports.http),
    PROBEPILOT_PG_PORT: String(ports.pg),
    PROBEPILOT_NATS_PORT: String(ports.nats),
    PROBEPILOT_AGENT_HTTP: `127.0.0.1:${ports.agent}`,
    ...extra,
  };
  delete env.DATABASE_URL;
  delete env.NATS_URL;
  return env;
}

/** Remove a stack's data dir; as root with a 0700 temp dir its Postgres data lives under /var/lib/probepilot behind a symlink, removed too. */
export async function removeStackDataDir(dataDir: string): Promise<void> {
  const pgDir = path.join(dataDir, "postgres");
  if ((await lstat(pgDir).catch(() => null))?.isSymbolicLink()) await rm(await readlink(pgDir), { recursive: true, force: true });
  await rm(dataDir, { recursive: true, force: true });
}
