import { drizzle, type PostgresJsDatabase } from "drizzle-orm/postgres-js";
import { migrate } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import { fileURLToPath } from "node:url";
import * as schema from "./schema.ts";

export type Db = PostgresJsDatabase<typeof schema>;
/** A transaction of `Db`: services that take `DbOrTx` can run inside a caller's transaction. */
export type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];
export type DbOrTx = Db | Tx;
export type DbHandle = { db: Db; sql: postgres.Sql; close: () => Promise<void> };

const MIGRATIONS_DIR = fileURLToPath(new URL("../../drizzle", import.meta.url));

/** Connect with postgres.js; `max` bounds the pool (2 cores: a small pool is faster than a big one). */
export function connectDb(url: string, opts: { max?: number } = {}): DbHandle {
  // JIT off: dashboard queries sit near its cost threshold, and when it kicked in it added
  // 100+ ms of compilation to a ~150 ms fleet panel (measured with bench:query).
  const sql = postgres(url, { max: opts.max ?? 10, onnotice: () => {}, connection: { jit: "off" } });
  const db = drizzle(sql, { schema });
  acceptDateParameters(sql);
  return { db, sql, close: () => sql.end({ timeout: 5 }) };
}

/** postgres.js type oids of `timestamptz` and `timestamp`. */
const TIMESTAMP_OIDS = [1184, 1114] as const;

/**
 * drizzle's postgres-js driver replaces the shared client's timestamp serializers with the
 * identity (drizzle hands them strings already), so a `Date` bound into raw SQL on that client
 * reached the wire as an object and the query threw (`The "string" argument must be of type
 * string … Received an instance of Date`): partition maintenance failed that way on every
 * start. Serialize a `Date` as ISO text and pass strings through unchanged, so both drizzle's
 * values and raw-SQL `Date`s work.
 */
export function acceptDateParameters(sql: postgres.Sql): void {
  const serializers = sql.options.serializers;
  for (const oid of TIMESTAMP_OIDS) {
    const inner = serializers[oid];
    serializers[oid] = (value: unknown) => (value instanceof Date ? value.toISOString() : inner ? inner(value) : value);
  }
}

/**
 * Run `fn` while holding a session-level advisory lock named `name`, so that
 * several control planes starting at once take turns. The lock lives on one
 * reserved connection; `fn` may use the pool.
 */
export async function withAdvisoryLock<T>(handle: DbHandle, name: string, fn: () => Promise<T>): Promise<T> {
  const lockConn = await handle.sql.reserve();
  try {
    await lockConn`select pg_advisory_lock(hashtext(${name}))`;
    return await fn();
  } finally {
    await lockConn`select pg_advisory_unlock(hashtext(${name}))`.catch(() => {});
    lockConn.release();
  }
}

/** Apply the drizzle-kit migrations in `control-plane/drizzle`, one starter at a time. */
export async function migrateDb(handle: DbHandle): Promise<void> {
  await withAdvisoryLock(handle, "probepilot:migrate", () => migrate(handle.db, { migrationsFolder: MIGRATIONS_DIR }));
}
