import { serve, type ServerType } from "@hono/node-server";
import { readFile } from "node:fs/promises";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { NatsConnection } from "nats";
import { apiGuardOptionsFromEnv, retentionOf, type ControlPlaneEnv } from "./env.ts";
import { startPartitionManager } from "./workers/partition-manager.ts";
import { startRollupWorker } from "./workers/rollup-worker.ts";
import { createTelemetryIngester } from "./ingest/telemetry-ingester.ts";
import { createIngestMetrics } from "./ingest/ingest-metrics.ts";
import { connectDb, migrateDb, type DbHandle } from "./db/client.ts";
import { tenants } from "./db/schema.ts";
import { createLogger, type Logger } from "./logger.ts";
import { createControlPlaneMetrics, type ControlPlaneMetrics } from "./metrics.ts";
import { bootstrapIfEmpty } from "./services/auth/bootstrap.ts";
import { closeNats, natsEndpoint } from "./nats/connect.ts";
import { ensureJetStream } from "./nats/jetstream-setup.ts";
import { NatsAgentConfigStore } from "./nats/agent-config-store.ts";
import { startAgentRpcResponder } from "./nats/agent-rpc-responder.ts";
import { createStatusConsumer } from "./nats/status-consumer.ts";
import { NatsMesh } from "./nats/mesh.ts";
import { NatsAgentCredentials } from "./nats/nats-agent-credentials.ts";
import { openNatsTrust } from "./nats/trust/open-trust.ts";
import { INGESTER_PERMISSIONS, STATUS_WRITER_PERMISSIONS } from "./nats/trust/permissions.ts";
import type { NatsTrust } from "./nats/trust/nats-trust.ts";
import { startOfflineSweeper } from "./workers/offline-sweeper.ts";
import { createHttpApp } from "./http/app.ts";
import { dependencyHealth } from "./http/dependency-health.ts";
import { TelemetryTap } from "./services/telemetry/live/telemetry-tap.ts";
import { RolloutSignals } from "./services/rollouts/rollout-signals.ts";
import { RolloutEngine } from "./services/rollouts/engine/rollout-engine.ts";

export type ControlPlane = {
  url: string;
  port: number;
  db: DbHandle;
  /** The platform account, as its administrator. */
  nc: NatsConnection;
  /** Every NATS connection of this control plane, and the trust chain it signs with. */
  mesh: NatsMesh;
  trust: NatsTrust;
  credentials: NatsAgentCredentials;
  log: Logger;
  metrics: ControlPlaneMetrics;
  rolloutSignals: RolloutSignals;
  rolloutEngine: RolloutEngine;
  /** Set on the very first start only: the bootstrap admin token and the file holding it. */
  bootstrap: { token: string; file: string } | null;
  stop: () => Promise<void>;
};

/**
 * Start a control plane: migrate, bootstrap, connect to NATS, start the enroll
 * responder, status consumer and offline sweeper, then serve HTTP.
 */
export async function startControlPlane(env: ControlPlaneEnv, opts: { log?: Logger } = {}): Promise<ControlPlane> {
  const log = opts.log ?? createLogger(env.PROBEPILOT_LOG_LEVEL, { service: "control-plane" });
  const metrics = createControlPlaneMetrics();

  const db = connectDb(env.DATABASE_URL);
  try {
    await migrateDb(db);
  } catch (error) {
    await db.close();
    throw new Error(`cannot migrate the database at ${redactUrl(env.DATABASE_URL)}: ${(error as Error).message}`, { cause: error });
  }
  const bootstrap = await bootstrapIfEmpty(db, env.dataDir);

  const tenantIds = (await db.db.select({ id: tenants.id }).from(tenants)).map((t) => t.id);
  let mesh: NatsMesh;
  try {
    const trust = await openNatsTrust(db, env, log);
    mesh = await NatsMesh.connect({ endpoint: natsEndpoint(env.NATS_URL, env.PROBEPILOT_NATS_CA), trust, log, tenantIds, onStatus: (up) => metrics.natsConnected.set(up ? 1 : 0) });
  } catch (error) {
    await db.close();
    throw new Error(`cannot connect to NATS at ${env.NATS_URL}: ${(error as Error).message}`, { cause: error });
  }
  const nc = await mesh.platform();
  await ensureJetStream(nc);
  // Every tenant's account connection and KV buckets: agents watch their policy bucket from their first start.
  for (const tenantId of tenantIds) await mesh.tenant(tenantId);

  const credentials = new NatsAgentCredentials(mesh, env.PROBEPILOT_AGENT_JWT_TTL_SEC);
  const agentConfig = new NatsAgentConfigStore((tenantId) => mesh.tenant(tenantId));
  const rolloutSignals = await RolloutSignals.listen(db.sql);
  const agentRpc = startAgentRpcResponder(nc, db.db, credentials, log.child({ component: "agent-rpc" }), metrics);
  // The status writer and the ingester each connect as a user that may only drain its own consumer.
  const statusNc = await mesh.connectAs("platform", "probepilot-control-plane/status-writer", STATUS_WRITER_PERMISSIONS);
  const statusConsumer = createStatusConsumer(statusNc, db.db, log.child({ component: "status-consumer" }), metrics);
  statusConsumer.start();
  const rolloutEngine = new RolloutEngine({ db, tenantNats: (tenantId) => mesh.tenant(tenantId), signals: rolloutSignals, log: log.child({ component: "rollout-engine" }), metrics });
  rolloutEngine.start();
  const retention = retentionOf(env);
  const stopPartitions = startPartitionManager(db.sql, log.child({ component: "partitions" }), retention);
  // The ingester writes one micro-batch at a time on its own connection: spreading successive
  // COPY transactions over a pool cost Postgres 35-40% more CPU per sample (bench:ingest).
  const ingestDb = env.PROBEPILOT_INGEST === "on" ? connectDb(env.DATABASE_URL, { max: 1 }) : null;
  const ingestNc = ingestDb ? await mesh.connectAs("platform", "probepilot-control-plane/ingester", INGESTER_PERMISSIONS) : null;
  const ingester =
    ingestDb && ingestNc
      ? createTelemetryIngester({ nc: ingestNc, sql: ingestDb.sql, log: log.child({ component: "ingester" }), metrics: createIngestMetrics(metrics.registry, metrics.deadLetters), maxAgeMs: retention.rawMs })
      : null;
  ingester?.start();
  const stopRollups = startRollupWorker(db.sql, log.child({ component: "rollups" }));
  const stopSweeper = startOfflineSweeper(db.db, log.child({ component: "offline-sweeper" }), metrics, {
    intervalMs: env.PROBEPILOT_SWEEP_INTERVAL_MS,
    missedHeartbeats: env.PROBEPILOT_OFFLINE_AFTER_HEARTBEATS,
  });

  const app = createHttpApp({
    webDir: env.PROBEPILOT_WEB_DIR,
    db: db.db,
    log,
    metrics,
    agentConfig,
    credentials,
    tap: new TelemetryTap(nc),
    rolloutSignals,
    health: dependencyHealth(db.db, nc),
    guard: apiGuardOptionsFromEnv(env),
  });
  const tls = env.PROBEPILOT_TLS_CERT && env.PROBEPILOT_TLS_KEY ? { cert: await readFile(env.PROBEPILOT_TLS_CERT), key: await readFile(env.PROBEPILOT_TLS_KEY) } : null;
  const server = await listen(app.fetch, env.PROBEPILOT_PORT, env.PROBEPILOT_HOST, tls);
  const port = (server.address() as AddressInfo).port;
  const url = `${tls ? "https" : "http"}://${env.PROBEPILOT_HOST}:${port}`;
  log.info({ url }, "control plane listening");

  let stopping: Promise<void> | null = null;
  const stop = () =>
    (stopping ??= (async () => {
      // Stop taking work first, then finish what is in flight, then close connections.
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agentRpc.unsubscribe();
      await rolloutEngine.stop();
      await statusConsumer.stop();
      await ingester?.stop();
      await ingestDb?.close();
      if (ingestNc) await closeNats(ingestNc);
      await closeNats(statusNc);
      await stopRollups();
      await stopPartitions();
      await stopSweeper();
      await rolloutSignals.close();
      await closeNats(nc);
      await mesh.close();
      await db.close();
      log.info("control plane stopped");
    })());

  return { url, port, db, nc, mesh, trust: mesh.trust, credentials, log, metrics, rolloutSignals, rolloutEngine, bootstrap, stop };
}

/** Serve HTTP, or HTTPS when given a certificate chain and key. */
function listen(fetch: Parameters<typeof serve>[0]["fetch"], port: number, hostname: string, tls: { cert: Buffer; key: Buffer } | null): Promise<ServerType> {
  return new Promise((resolve, reject) => {
    const server = tls
      ? serve({ fetch, port, hostname, createServer: createHttpsServer, serverOptions: tls }, () => resolve(server))
      : serve({ fetch, port, hostname }, () => resolve(server));
    server.once("error", reject);
  });
}

/** The URL without its password, for messages. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(unparseable URL)";
  }
}
