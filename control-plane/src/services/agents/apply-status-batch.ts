import { sql } from "drizzle-orm";
import type { AgentStatusMessage } from "@probepilot/shared";
import type { Db } from "../../db/client.ts";

/**
 * Write a batch of status messages in one statement. Only the newest message per
 * agent matters (heartbeats and status changes carry the full state), and a
 * message older than the last one applied is ignored, so re-delivery and
 * reordering are harmless. A message only touches the agent of its own tenant.
 *
 * Returns how many agents were updated.
 */
export async function applyStatusBatch(db: Db, messages: AgentStatusMessage[]): Promise<number> {
  const newest = new Map<string, AgentStatusMessage>();
  for (const m of messages) {
    const key = `${m.tenantId}/${m.agentId}`;
    const seen = newest.get(key);
    if (!seen || m.at > seen.at || (m.at === seen.at && m.seq >= seen.seq)) newest.set(key, m);
  }
  if (newest.size === 0) return 0;

  const rows = [...newest.values()].map((m) =>
    m.type === "goodbye"
      ? { agent_id: m.agentId, tenant_id: m.tenantId, at: m.at, status: "offline", probes: null, applied: null, hb: null }
      : { agent_id: m.agentId, tenant_id: m.tenantId, at: m.at, status: "online", probes: m.probes, applied: m.appliedPolicies, hb: m.heartbeatIntervalSec },
  );
  // jsonb_to_recordset turns the batch into a table in one round trip.
  const result = await db.execute(sql`
    update agents a set
      status = m.status::agent_status,
      last_seen_at = now(),
      last_status_at = to_timestamp(m.at / 1000.0),
      probes = coalesce(m.probes, a.probes),
      applied_policies = coalesce(m.applied, a.applied_policies),
      heartbeat_interval_sec = coalesce(ceil(m.hb)::int, a.heartbeat_interval_sec)
    from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
      as m(agent_id text, tenant_id text, at double precision, status text, probes jsonb, applied jsonb, hb double precision)
    where a.id = m.agent_id and a.tenant_id = m.tenant_id
      and (a.last_status_at is null or a.last_status_at <= to_timestamp(m.at / 1000.0))
    returning a.id`);
  return result.length;
}
