import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { eq } from "drizzle-orm";
import { parseControlPlaneEnv } from "../env.ts";
import { startControlPlane } from "../server.ts";
import { createLogger } from "../logger.ts";
import { tenants } from "../db/schema.ts";
import { DEFAULT_TENANT_NAME, adminTokenFile, mintLocalAdminToken } from "../services/auth/bootstrap.ts";
import { createEnrollmentToken } from "../services/enroll-tokens/create-enrollment-token.ts";
import { parseStackEnv, type StackEnv } from "./stack-env.ts";
import { connectDb, migrateDb } from "../db/client.ts";
import { openNatsTrust } from "../nats/trust/open-trust.ts";
import { writeLocalNatsConfig, type LocalNatsConfig } from "../nats/trust/local-server.ts";
import { startEmbeddedPostgres } from "./embedded-postgres.ts";
import { startLocalNats } from "./local-nats.ts";
import { startLocalAgent } from "./local-agent.ts";
import { claimStackDir, refuseToStart } from "./stale-stack.ts";

/**
 * `npm start`: the whole stack on one machine — Postgres (DATABASE_URL or an
 * embedded one), NATS (NATS_URL or a local nats-server), the control plane,
 * and one local agent enrolled automatically. Ctrl-C stops it all in reverse
 * order; a second Ctrl-C kills what is left at once.
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

type Part = { stop: () => Promise<void>; kill?: () => void };

async function main(): Promise<void> {
  const env = parseStackEnv(process.env);
  const logDir = path.join(env.dataDir, "logs");
  await mkdir(logDir, { recursive: true });
  // Refuses if a live stack has this data dir; stops what a dead one left (stale-stack.ts).
  const claim = await claimStackDir(env.dataDir, { url: `http://127.0.0.1:${env.PROBEPILOT_PORT}`, say }).catch(refuseToStart);
  const parts: Part[] = [];
  let shuttingDown = false;
  const shutdown = async (code: number) => {
    shuttingDown = true;
    say("\nstopping ProbePilot… (Ctrl-C again to kill it at once)");
    for (const part of [...parts].reverse()) await part.stop().catch((e: Error) => say(`  (while stopping: ${e.message})`));
    await claim.release().catch((e: Error) => say(`  (while removing the stack record: ${e.message})`));
    say("stopped.");
    process.exit(code);
  };
  const onSignal = () => {
    if (!shuttingDown) return void shutdown(0);
    // Second signal: the children run in their own process groups, so kill them here or they outlive us.
    for (const part of parts) part.kill?.();
    process.exit(130);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  try {
    let databaseUrl = env.DATABASE_URL;
    if (!databaseUrl) {
      const pg = await step(`starting embedded Postgres on 127.0.0.1:${env.PROBEPILOT_PG_PORT}`, () =>
        startEmbeddedPostgres({ dir: path.join(env.dataDir, "postgres"), port: env.PROBEPILOT_PG_PORT, database: "probepilot", logFile: path.join(logDir, "postgres.log") }),
      );
      parts.push(pg);
      await claim.child("postgres", pg.pid);
      say(`  data in ${pg.dataDir}`);
      databaseUrl = pg.url;
    } else say("• using Postgres at DATABASE_URL");

    let natsUrl = env.NATS_URL;
    let natsCa = env.PROBEPILOT_NATS_CA;
    if (!natsUrl) {
      // nats-server trusts this control plane's operator (its keys live in Postgres, sealed with
      // <data dir>/secret.key) and serves TLS with a local CA in <data dir>/tls: no anonymous client gets in.
      const config = await step("preparing NATS trust (operator, accounts) and TLS", () => writeStackNatsConfig(databaseUrl!, env));
      const nats = await step(`starting nats-server (operator mode, TLS) on 127.0.0.1:${env.PROBEPILOT_NATS_PORT}`, () =>
        startLocalNats({ port: env.PROBEPILOT_NATS_PORT, config, logFile: path.join(logDir, "nats.log") }),
      );
      parts.push(nats);
      await claim.child("nats-server", nats.pid);
      natsUrl = nats.url;
      natsCa = nats.caFile;
    } else say(`• using NATS at ${natsUrl} (it must trust this control plane's operator: probepilot-control-plane nats-config)`);

    const cpEnv = parseControlPlaneEnv({
      ...process.env,
      DATABASE_URL: databaseUrl,
      NATS_URL: natsUrl,
      ...(natsCa ? { PROBEPILOT_NATS_CA: natsCa } : {}),
      PROBEPILOT_PORT: String(env.PROBEPILOT_PORT),
      PROBEPILOT_DATA_DIR: env.dataDir,
    });
    const cp = await step("migrating and starting the control plane", () =>
      startControlPlane(cpEnv, { log: createLogger(env.PROBEPILOT_LOG_LEVEL, { service: "control-plane" }, path.join(logDir, "control-plane.log")) }),
    );
    parts.push(cp);

    // The bootstrap token is written on a fresh database; an existing database (DATABASE_URL,
    // or a deleted file) gets a new local admin token so the README's commands work.
    const tokenFile = adminTokenFile(env.dataDir);
    const minted = !cp.bootstrap && !existsSync(tokenFile) ? await mintLocalAdminToken(cp.db, env.dataDir) : null;

    if (env.PROBEPILOT_LOCAL_AGENT === "on") {
      let enrollToken: Promise<string> | null = null; // one per stack run, made when first needed
      const agent = await step("starting the local agent", () =>
        startLocalAgent({
          natsUrl: natsUrl!,
          ...(natsCa ? { caFile: natsCa } : {}),
          controlPlaneUrl: cp.url,
          dataDir: path.join(env.dataDir, "agent"),
          httpAddr: env.PROBEPILOT_AGENT_HTTP,
          logFile: path.join(logDir, "agent.log"),
          logLevel: env.PROBEPILOT_LOG_LEVEL,
          enrollToken: () =>
            (enrollToken ??= (async () => {
              const [tenant] = await cp.db.db.select().from(tenants).where(eq(tenants.name, DEFAULT_TENANT_NAME)).limit(1);
              if (!tenant) throw new Error(`no "${DEFAULT_TENANT_NAME}" tenant to enroll the local agent in`);
              const created = await createEnrollmentToken(cp.db.db, { tenantId: tenant.id, actor: "stack:local-agent" }, { description: "local agent (npm start)", expiresInSec: 24 * 3600 });
              return created.token;
            })().catch((error) => {
              enrollToken = null; // try again on the next launch
              throw error;
            })),
          onEvent: say,
          onSpawn: (pid) => void claim.child("agent", pid),
        }),
      );
      parts.push(agent);
    }

    // Relative when it is under the working directory (.probepilot/admin-token), else absolute.
    const relativeFile = path.relative(process.cwd(), tokenFile);
    const shownFile = relativeFile && !relativeFile.startsWith("..") ? relativeFile : tokenFile;
    const tokenWhere = cp.bootstrap ? "below" : `in ${shownFile}`;
    say("");
    say(`ProbePilot is running at ${cp.url}`);
    // npm start builds the web app; `pnpm stack` (or PROBEPILOT_WEB_DIR elsewhere) may not have one.
    if (existsSync(path.join(cpEnv.PROBEPILOT_WEB_DIR, "index.html"))) say(`Open:  ${cp.url} in a browser and sign in with the admin token ${tokenWhere}`);
    else say(`Web:   not built (pnpm --filter @probepilot/web build, then open ${cp.url}); the admin token is ${tokenWhere}`);
    if (cp.bootstrap) say(`\nBootstrap admin token (shown once; also saved with mode 0600 in ${tokenFile}):\n  ${cp.bootstrap.token}\n`);
    else if (minted) say(`New local admin token (the database existed but ${tokenFile} did not), saved with mode 0600 there.`);
    say(`CLI:   PROBEPILOT_TOKEN=$(cat ${shownFile}) pnpm probepilot agents list`);
    say(`Logs:  ${logDir}/   ·   Ctrl-C stops everything`);
  } catch (error) {
    say(`\nProbePilot could not start: ${error instanceof Error ? error.message : String(error)}`);
    await shutdown(1);
  }
}

/**
 * Before NATS starts: the database migrated, the trust chain opened (made on the
 * very first start) and the nats-server configuration written under <data dir>/nats.
 */
async function writeStackNatsConfig(databaseUrl: string, env: StackEnv): Promise<LocalNatsConfig> {
  const db = connectDb(databaseUrl, { max: 2 });
  try {
    await migrateDb(db);
    const trust = await openNatsTrust(db, env, createLogger("warn"));
    return await writeLocalNatsConfig({ dir: path.join(env.dataDir, "nats"), port: env.PROBEPILOT_NATS_PORT, trust, tlsDir: path.join(env.dataDir, "tls") });
  } finally {
    await db.close();
  }
}

await main();
