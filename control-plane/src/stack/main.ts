import { mkdir } from "node:fs/promises";
import path from "node:path";
import { eq } from "drizzle-orm";
import { parseControlPlaneEnv } from "../env.ts";
import { startControlPlane, type ControlPlane } from "../server.ts";
import { createLogger } from "../logger.ts";
import { tenants } from "../db/schema.ts";
import { DEFAULT_TENANT_NAME } from "../services/auth/bootstrap.ts";
import { createEnrollmentToken } from "../services/enroll-tokens/create-enrollment-token.ts";
import { parseStackEnv } from "./stack-env.ts";
import { startEmbeddedPostgres, type LocalPostgres } from "./embedded-postgres.ts";
import { startLocalNats, type LocalNats } from "./local-nats.ts";
import { startLocalAgent, type LocalAgent } from "./local-agent.ts";

/**
 * `npm start`: the whole stack on one machine — Postgres (DATABASE_URL or an
 * embedded one), NATS (NATS_URL or a local nats-server), the control plane,
 * and one local agent enrolled automatically. Ctrl-C stops it all in reverse order.
 */
const say = (line: string) => process.stdout.write(`${line}\n`);

async function step<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const started = Date.now();
  process.stdout.write(`• ${what}… `);
  try {
    const result = await fn();
    process.stdout.write(`done (${((Date.now() - started) / 1000).toFixed(1)}s)\n`);
    return result;
  } catch (error) {
    process.stdout.write("failed\n");
    throw error;
  }
}

async function main(): Promise<void> {
  const env = parseStackEnv(process.env);
  const logDir = path.join(env.dataDir, "logs");
  await mkdir(logDir, { recursive: true });
  const stoppers: (() => Promise<void>)[] = [];
  let shuttingDown = false;
  const shutdown = async (code: number) => {
    if (shuttingDown) return;
    shuttingDown = true;
    say("\nstopping ProbePilot…");
    for (const stop of stoppers.reverse()) await stop().catch((e: Error) => say(`  (while stopping: ${e.message})`));
    say("stopped.");
    process.exit(code);
  };
  process.on("SIGINT", () => (shuttingDown ? process.exit(130) : void shutdown(0)));
  process.on("SIGTERM", () => void shutdown(0));

  try {
    let databaseUrl = env.DATABASE_URL;
    if (!databaseUrl) {
      const pg: LocalPostgres = await step(`starting embedded Postgres on 127.0.0.1:${env.PROBEPILOT_PG_PORT}`, () =>
        startEmbeddedPostgres({ dir: path.join(env.dataDir, "postgres"), port: env.PROBEPILOT_PG_PORT, database: "probepilot", logFile: path.join(logDir, "postgres.log") }),
      );
      stoppers.push(pg.stop);
      say(`  data in ${pg.dataDir}`);
      databaseUrl = pg.url;
    } else say(`• using Postgres at DATABASE_URL`);

    let natsUrl = env.NATS_URL;
    if (!natsUrl) {
      const nats: LocalNats = await step(`starting nats-server -js on 127.0.0.1:${env.PROBEPILOT_NATS_PORT}`, () =>
        startLocalNats({ port: env.PROBEPILOT_NATS_PORT, storeDir: path.join(env.dataDir, "nats"), logFile: path.join(logDir, "nats.log") }),
      );
      stoppers.push(nats.stop);
      natsUrl = nats.url;
    } else say(`• using NATS at ${natsUrl}`);

    const cpEnv = parseControlPlaneEnv({ ...process.env, DATABASE_URL: databaseUrl, NATS_URL: natsUrl, PROBEPILOT_PORT: String(env.PROBEPILOT_PORT), PROBEPILOT_DATA_DIR: env.dataDir });
    const cp: ControlPlane = await step("migrating and starting the control plane", () =>
      startControlPlane(cpEnv, { log: createLogger(env.PROBEPILOT_LOG_LEVEL, { service: "control-plane" }, path.join(logDir, "control-plane.log")) }),
    );
    stoppers.push(cp.stop);

    if (env.PROBEPILOT_LOCAL_AGENT === "on") {
      const agent: LocalAgent = await step("starting the local agent", () =>
        startLocalAgent({
          natsUrl: natsUrl!,
          dataDir: path.join(env.dataDir, "agent"),
          httpAddr: env.PROBEPILOT_AGENT_HTTP,
          logFile: path.join(logDir, "agent.log"),
          logLevel: env.PROBEPILOT_LOG_LEVEL,
          enrollToken: async () => {
            const [tenant] = await cp.db.db.select().from(tenants).where(eq(tenants.name, DEFAULT_TENANT_NAME)).limit(1);
            if (!tenant) throw new Error(`no "${DEFAULT_TENANT_NAME}" tenant to enroll the local agent in`);
            const created = await createEnrollmentToken(cp.db.db, { tenantId: tenant.id, actor: "stack:local-agent" }, { description: "local agent (npm start)", expiresInSec: 3600 });
            return created.token;
          },
          onEvent: say,
        }),
      );
      stoppers.push(agent.stop);
    }

    const tokenFile = path.join(env.dataDir, "admin-token");
    say("");
    say(`ProbePilot is running at ${cp.url}`);
    if (cp.bootstrap) say(`\nBootstrap admin token (shown once; also saved with mode 0600 in ${tokenFile}):\n  ${cp.bootstrap.token}\n`);
    else say(`Admin token: ${tokenFile}`);
    say(`Try:   PROBEPILOT_TOKEN=$(cat ${path.relative(process.cwd(), tokenFile) || tokenFile}) pnpm probepilot agents list`);
    say(`Logs:  ${logDir}/   ·   Ctrl-C stops everything`);
  } catch (error) {
    say(`\nProbePilot could not start: ${error instanceof Error ? error.message : String(error)}`);
    await shutdown(1);
  }
}

await main();
