import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { NatsConnection } from "nats";
import { connectDb, migrateDb, type DbHandle } from "@probepilot/control-plane/db/client";
import { natsEndpoint } from "@probepilot/control-plane/nats/connect";
import { NatsMesh } from "@probepilot/control-plane/nats/mesh";
import { createTestDatabase } from "./database.ts";
import { createLogger } from "@probepilot/control-plane/logger";
import { NatsTrust } from "@probepilot/control-plane/nats/trust/nats-trust";
import { SecretBox } from "@probepilot/control-plane/nats/trust/secret-box";
import { writeLocalNatsConfig } from "@probepilot/control-plane/nats/trust/local-server";
import { freePort, waitForPort } from "./free-port.ts";

export type TestNatsServer = {
  /** `tls://127.0.0.1:<port>` (or `nats://` without TLS). */
  url: string;
  port: number;
  /** The CA clients verify the server with (TLS only). */
  caFile?: string;
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
 * A real `nats-server` on a free port with its own temp store, as production runs
 * it: operator mode trusting `trust` (the control plane's operator, system and
 * platform accounts), a full resolver for the tenants' accounts, JetStream, and
 * TLS with a throwaway CA. One per suite, stopped (and its store removed) in
 * teardown. `restart`, and `halt` then `start`, keep port and store.
 */
export async function startNatsServer(opts: { trust: NatsTrust; tls?: boolean }): Promise<TestNatsServer> {
  const port = await freePort();
  const storeDir = await mkdtemp(path.join(tmpdir(), "pp-nats-"));
  const config = await writeLocalNatsConfig({ dir: storeDir, port, trust: opts.trust, tls: opts.tls ?? true });
  const launch = async () => {
    const child = spawn("nats-server", ["-c", config.configFile], { stdio: "ignore" });
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
    url: config.url,
    port,
    ...(config.caFile ? { caFile: config.caFile } : {}),
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

/**
 * The trust chain a control plane on `databaseUrl` with `secretKey` will use:
 * migrates the database and makes the operator, system and platform accounts,
 * as a control plane's first start does. The nats-server is configured from it
 * before the control plane starts.
 */
export async function prepareTrust(databaseUrl: string, secretKey: string): Promise<{ trust: NatsTrust; close: () => Promise<void> }> {
  const db = connectDb(databaseUrl, { max: 2 });
  await migrateDb(db);
  const trust = await NatsTrust.open(db, SecretBox.fromKeys(secretKey), createLogger("silent"));
  return { trust, close: () => db.close() };
}

/**
 * NATS as a control plane sees it, without the control plane: a fresh database
 * with the trust chain, a nats-server trusting it, and the control plane's
 * connections (`mesh`: tenant accounts on demand; `platform`: the platform
 * account's administrator). For tests of the NATS pieces on their own.
 */
export async function startTestMesh(): Promise<{ nats: TestNatsServer; mesh: NatsMesh; platform: NatsConnection; db: DbHandle; stop: () => Promise<void> }> {
  const database = await createTestDatabase();
  const db = connectDb(database.url, { max: 4 });
  await migrateDb(db);
  const trust = await NatsTrust.open(db, SecretBox.fromKeys(SecretBox.newKeyText()), createLogger("silent"));
  const nats = await startNatsServer({ trust });
  const mesh = await NatsMesh.connect({ endpoint: natsEndpoint(nats.url, nats.caFile), trust, log: createLogger("silent") });
  const platform = await mesh.platform("pp-test-platform");
  return {
    nats,
    mesh,
    platform,
    db,
    stop: async () => {
      await platform.close();
      await mesh.close();
      await db.close();
      await Promise.all([nats.stop(), database.drop()]);
    },
  };
}
