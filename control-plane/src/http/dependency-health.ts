import { sql } from "drizzle-orm";
import type { NatsConnection } from "nats";
import type { Db } from "../db/client.ts";
import type { HealthCheck } from "./ops-routes.ts";

/** Health of a process that needs Postgres and NATS: both must answer. */
export function dependencyHealth(db: Db, nc: NatsConnection): HealthCheck {
  return async () => {
    const postgres = await db.execute(sql`select 1`).then(
      () => ({ ok: true }),
      (e: Error) => ({ ok: false, detail: e.message }),
    );
    const nats = nc.isClosed() ? { ok: false, detail: "connection closed" } : { ok: true };
    return { ok: postgres.ok && nats.ok, checks: { postgres, nats } };
  };
}
