import { Hono } from "hono";
import { serve } from "@hono/node-server";
import { Counter, Registry, collectDefaultMetrics } from "prom-client";
import { retentionOf } from "../env.ts";
import { connectDb, migrateDb } from "../db/client.ts";
import { createLogger } from "../logger.ts";
import { closeNats, connectNats, credsFileAuthenticator, natsEndpoint } from "../nats/connect.ts";
import { opsRoutes } from "../http/ops-routes.ts";
import { dependencyHealth } from "../http/dependency-health.ts";
import { parseIngesterEnv } from "./ingester-env.ts";
import { createIngestMetrics } from "./ingest-metrics.ts";
import { createTelemetryIngester } from "./telemetry-ingester.ts";

/**
 * `probepilot-ingester`: the telemetry ingester as its own process, to scale
 * ingest beyond the control plane. Any number can run: they share the durable
 * consumer, and the ledger makes a redelivered batch harmless. Run the control
 * planes with PROBEPILOT_INGEST=off when standalone ingesters do the work.
 */
async function main(): Promise<void> {
  const env = parseIngesterEnv(process.env);
  const log = createLogger(env.PROBEPILOT_LOG_LEVEL, { service: "ingester" });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "probepilot_ingester_" });
  const deadLetters = new Counter({ name: "probepilot_dead_letters_total", help: "Messages sent to the dead-letter subject, by source and reason class", labelNames: ["source", "reason"] as const, registers: [registry] });

  const db = connectDb(env.DATABASE_URL);
  await migrateDb(db);
  const creds = await credsFileAuthenticator(env.PROBEPILOT_NATS_CREDS);
  if (creds.expiresAt !== null) log.info({ credsExpireAt: new Date(creds.expiresAt).toISOString() }, "NATS credentials loaded");
  // Its user may only drain the ingest consumer: the control plane creates the streams and consumers.
  const nc = await connectNats(natsEndpoint(env.NATS_URL, env.PROBEPILOT_NATS_CA), "probepilot-ingester", creds.authenticator, log);
  const checkExpiry = () => {
    if (creds.expiresAt !== null && creds.expiresAt - Date.now() < 7 * 24 * 3600_000) {
      log.warn({ credsExpireAt: new Date(creds.expiresAt).toISOString() }, "the ingester's NATS credentials expire within 7 days: issue new ones (probepilot-control-plane nats-creds ingester) and restart");
    }
  };
  checkExpiry();
  const warnExpiry = creds.expiresAt === null ? null : setInterval(checkExpiry, 6 * 3600_000).unref();
  // Its own single connection for the writes (see server.ts); the pool serves migrations and /healthz.
  const ingestDb = connectDb(env.DATABASE_URL, { max: 1 });
  const ingester = createTelemetryIngester({ nc, sql: ingestDb.sql, log, metrics: createIngestMetrics(registry, deadLetters), maxAgeMs: retentionOf(env).rawMs });
  ingester.start();

  const app = new Hono().route("/", opsRoutes(dependencyHealth(db.db, nc), registry));
  const [hostname, port] = [env.PROBEPILOT_INGESTER_HTTP.slice(0, env.PROBEPILOT_INGESTER_HTTP.lastIndexOf(":")), Number(env.PROBEPILOT_INGESTER_HTTP.split(":").pop())];
  const server = serve({ fetch: app.fetch, hostname, port });
  log.info({ http: env.PROBEPILOT_INGESTER_HTTP }, "ingester running");

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "stopping: finishing the batch in flight");
    server.close();
    if (warnExpiry) clearInterval(warnExpiry);
    await ingester.stop();
    await ingestDb.close();
    await closeNats(nc);
    await db.close();
    process.exit(0);
  };
  process.once("SIGINT", () => void stop("SIGINT"));
  process.once("SIGTERM", () => void stop("SIGTERM"));
}

main().catch((error: unknown) => {
  process.stderr.write(`probepilot-ingester could not start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
