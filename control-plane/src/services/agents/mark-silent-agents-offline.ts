import { sql } from "drizzle-orm";
import type { Db } from "../../db/client.ts";

/**
 * Mark offline every online agent (of every tenant: this is the control plane's
 * own housekeeping, not a caller's query) whose last message is older than
 * `missedHeartbeats` of its own heartbeat intervals. Returns the agents it changed.
 */
export async function markSilentAgentsOffline(db: Db, missedHeartbeats: number): Promise<{ id: string; tenantId: string }[]> {
  const rows = await db.execute<{ id: string; tenant_id: string }>(sql`
    update agents set status = 'offline'
    where status = 'online'
      and last_seen_at < now() - make_interval(secs => heartbeat_interval_sec * ${missedHeartbeats}::float8)
    returning id, tenant_id`);
  return rows.map((r) => ({ id: r.id, tenantId: r.tenant_id }));
}
