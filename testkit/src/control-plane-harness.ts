import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createTRPCClient, httpLink } from "@trpc/client";
import type { NatsConnection } from "nats";
import { pino } from "pino";
import type { AppRouter } from "@probepilot/control-plane/trpc/app-router";
import { parseControlPlaneEnv, type ControlPlaneEnv } from "@probepilot/control-plane/env";
import { startControlPlane, type ControlPlane } from "@probepilot/control-plane/server";
import { createLogger, type Logger } from "@probepilot/control-plane/logger";
import { PLATFORM_ADMIN_PERMISSIONS } from "@probepilot/control-plane/nats/trust/permissions";
import { SecretBox } from "@probepilot/control-plane/nats/trust/secret-box";
import { createTestDatabase, type TestDatabase } from "./database.ts";
import { prepareTrust, startNatsServer, type TestNatsServer } from "./nats-server.ts";

export type Harness = {
  cp: ControlPlane;
  /** The control plane's parsed configuration. */
  env: ControlPlaneEnv;
  nats: TestNatsServer;
  database: TestDatabase;
  dataDir: string;
  adminToken: string;
  /** The key sealing the NATS signing keys in this database (another control plane on it needs the same). */
  secretKey: string;
  client: (token?: string) => ReturnType<typeof createTRPCClient<AppRouter>>;
  /**
   * A new connection to the platform account as its administrator (what the control
   * plane itself uses): tests publish statuses and telemetry there as if agents had,
   * and read the streams. The caller closes it.
   */
  platformNats: (name?: string) => Promise<NatsConnection>;
  /** Where an agent of this harness finds NATS (with its CA) and the control plane. */
  agentEndpoints: { natsUrl: string; caFile?: string; controlPlaneUrl: string };
  /** The same as `probepilot-agent` flags: --nats, --ca, --control-plane. */
  agentArgs: string[];
  stop: () => Promise<void>;
};

/**
 * A real control plane on a fresh database and its own nats-server (operator mode,
 * TLS, trusting this control plane's operator), with an admin token and a typed client.
 * `opts.log` replaces the (silent unless PP_TEST_LOG) logger, to read what the control plane logs.
 */
export async function startHarness(envOverrides: Record<string, string> = {}, opts: { log?: Logger } = {}): Promise<Harness> {
  const [database, dataDir] = await Promise.all([createTestDatabase(), mkdtemp(path.join(tmpdir(), "pp-cp-"))]);
  const secretKey = SecretBox.newKeyText();
  const prepared = await prepareTrust(database.url, secretKey);
  const nats = await startNatsServer({ trust: prepared.trust }).finally(() => prepared.close());
  const env = testControlPlaneEnv({ databaseUrl: database.url, nats, secretKey, dataDir }, envOverrides);
  const cp = await startControlPlane(env, { log: opts.log ?? createLogger(process.env.PP_TEST_LOG ?? "silent") });
  if (!cp.bootstrap) throw new Error("a fresh database must bootstrap an admin token");
  const adminToken = cp.bootstrap.token;
  return {
    cp,
    env,
    nats,
    database,
    dataDir,
    adminToken,
    secretKey,
    client: (token = adminToken) =>
      createTRPCClient<AppRouter>({ links: [httpLink({ url: `${cp.url}/trpc`, headers: () => (token ? { authorization: `Bearer ${token}` } : {}) })] }),
    platformNats: (name = "pp-test-platform") => cp.mesh.connectAs("platform", name, PLATFORM_ADMIN_PERMISSIONS),
    agentEndpoints: { natsUrl: nats.url, ...(nats.caFile ? { caFile: nats.caFile } : {}), controlPlaneUrl: cp.url },
    agentArgs: ["--nats", nats.url, ...(nats.caFile ? ["--ca", nats.caFile] : []), "--control-plane", cp.url],
    stop: async () => {
      await cp.stop();
      await Promise.all([nats.stop(), database.drop(), rm(dataDir, { recursive: true, force: true })]);
    },
  };
}

/**
 * A test control plane's configuration: on `databaseUrl`, the test nats-server (TLS with its CA),
 * the secret key that sealed the database's NATS keys, any free port, a quick offline sweep.
 */
export function testControlPlaneEnv(
  o: { databaseUrl: string; nats: Pick<TestNatsServer, "url" | "caFile">; secretKey: string; dataDir: string },
  overrides: Record<string, string> = {},
): ControlPlaneEnv {
  return parseControlPlaneEnv({
    DATABASE_URL: o.databaseUrl,
    NATS_URL: o.nats.url,
    ...(o.nats.caFile ? { PROBEPILOT_NATS_CA: o.nats.caFile } : {}),
    PROBEPILOT_SECRET_KEY: o.secretKey,
    PROBEPILOT_PORT: "0",
    PROBEPILOT_DATA_DIR: o.dataDir,
    PROBEPILOT_SWEEP_INTERVAL_MS: "200",
    ...overrides,
  });
}

/** A logger that keeps every line it writes (parsed), for tests that check what is logged. */
export function capturingLogger(level = "info"): { log: Logger; lines: Record<string, unknown>[]; text: () => string } {
  const raw: string[] = [];
  const log = pino({ level, timestamp: pino.stdTimeFunctions.isoTime }, { write: (line: string) => void raw.push(line) });
  return {
    log,
    get lines() {
      return raw.map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    text: () => raw.join(""),
  };
}
