import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createTRPCClient, httpLink } from "@trpc/client";
import { pino } from "pino";
import type { AppRouter } from "../../src/trpc/app-router.ts";
import { parseControlPlaneEnv } from "../../src/env.ts";
import { startControlPlane, type ControlPlane } from "../../src/server.ts";
import { createLogger, type Logger } from "../../src/logger.ts";
import { createTestDatabase, type TestDatabase } from "./database.ts";
import { startNatsServer, type TestNatsServer } from "./nats-server.ts";

export type Harness = {
  cp: ControlPlane;
  nats: TestNatsServer;
  database: TestDatabase;
  dataDir: string;
  adminToken: string;
  client: (token?: string) => ReturnType<typeof createTRPCClient<AppRouter>>;
  stop: () => Promise<void>;
};

/** A real control plane on a fresh database and its own nats-server, with an admin token and a typed client; `opts.log` replaces its (silent) logger. */
export async function startHarness(envOverrides: Record<string, string> = {}, opts: { log?: Logger } = {}): Promise<Harness> {
  const [nats, database, dataDir] = await Promise.all([startNatsServer(), createTestDatabase(), mkdtemp(path.join(tmpdir(), "pp-cp-"))]);
  const env = parseControlPlaneEnv({
    DATABASE_URL: database.url,
    NATS_URL: nats.url,
    PROBEPILOT_PORT: "0",
    PROBEPILOT_DATA_DIR: dataDir,
    PROBEPILOT_SWEEP_INTERVAL_MS: "200",
    ...envOverrides,
  });
  const cp = await startControlPlane(env, { log: opts.log ?? createLogger(process.env.PP_TEST_LOG ?? "silent") });
  if (!cp.bootstrap) throw new Error("a fresh database must bootstrap an admin token");
  const adminToken = cp.bootstrap.token;
  return {
    cp,
    nats,
    database,
    dataDir,
    adminToken,
    client: (token = adminToken) =>
      createTRPCClient<AppRouter>({ links: [httpLink({ url: `${cp.url}/trpc`, headers: () => (token ? { authorization: `Bearer ${token}` } : {}) })] }),
    stop: async () => {
      await cp.stop();
      await Promise.all([nats.stop(), database.drop(), rm(dataDir, { recursive: true, force: true })]);
    },
  };
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
