import { serve, type ServerType } from "@hono/node-server";
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
import { closeNats, connectNats } from "./nats/connect.ts";
import { ensureJetStream, ensureTenantBuckets } from "./nats/jetstream-setup.ts";
import { NatsAgentConfigStore } from "./nats/agent-config-store.ts";
import { startEnrollResponder } from "./nats/enroll-responder.ts";
import { createStatusConsumer } from "./nats/status-consumer.ts";
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
  nc: NatsConnection;
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

  const nc = await connectNats(env.NATS_URL, "probepilot-control-plane", log, (up) => metrics.natsConnected.set(up ? 1 : 0)).catch(async (error: Error) => {
    await db.close();
    throw new Error(`cannot connect to NATS at ${env.NATS_URL}: ${error.message}`, { cause: error });
  });
  await ensureJetStream(nc);
  for (const t of await db.db.select({ id: tenants.id }).from(tenants)) await ensureTenantBuckets(nc, t.id);

  const agentConfig = new NatsAgentConfigStore(nc);
  const rolloutSignals = await RolloutSignals.listen(db.sql);
  const enrollSub = startEnrollResponder(nc, db.db, log.child({ component: "enroll" }), metrics);
  const statusConsumer = createStatusConsumer(nc, db.db, log.child({ component: "status-consumer" }), metrics);
  statusConsumer.start();
  const rolloutEngine = new RolloutEngine({ db, nc, signals: rolloutSignals, log: log.child({ component: "rollout-engine" }), metrics });
  rolloutEngine.start();
  const retention = retentionOf(env);
  const stopPartitions = startPartitionManager(db.sql, log.child({ component: "partitions" }), retention);
  // The ingester writes one micro-batch at a time on its own connection: spreading successive
  // COPY transactions over a pool cost Postgres 35-40% more CPU per sample (bench:ingest).
  const ingestDb = env.PROBEPILOT_INGEST === "on" ? connectDb(env.DATABASE_URL, { max: 1 }) : null;
  const ingester = ingestDb
    ? createTelemetryIngester({ nc, sql: ingestDb.sql, log: log.child({ component: "ingester" }), metrics: createIngestMetrics(metrics.registry, metrics.deadLetters), maxAgeMs: retention.rawMs })
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
    tap: new TelemetryTap(nc),
    rolloutSignals,
    health: dependencyHealth(db.db, nc),
    guard: apiGuardOptionsFromEnv(env),
  });
  const server = await listen(app.fetch, env.PROBEPILOT_PORT, env.PROBEPILOT_HOST);
  const port = (server.address() as AddressInfo).port;
  const url = `http://${env.PROBEPILOT_HOST}:${port}`;
  log.info({ url }, "control plane listening");

  let stopping: Promise<void> | null = null;
  const stop = () =>
    (stopping ??= (async () => {
      // Stop taking work first, then finish what is in flight, then close connections.
      await new Promise<void>((resolve) => server.close(() => resolve()));
      enrollSub.unsubscribe();
      await rolloutEngine.stop();
      await statusConsumer.stop();
      await ingester?.stop();
      await ingestDb?.close();
      await stopRollups();
      await stopPartitions();
      await stopSweeper();
      await rolloutSignals.close();
      await closeNats(nc);
      await db.close();
      log.info("control plane stopped");
    })());

  return { url, port, db, nc, log, metrics, rolloutSignals, rolloutEngine, bootstrap, stop };
}

function listen(fetch: Parameters<typeof serve>[0]["fetch"], port: number, hostname: string): Promise<ServerType> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch, port, hostname }, () => resolve(server));
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
