import { sql } from "drizzle-orm";
import type { AgentStatusMessage } from "@probepilot/shared";
import type { Db } from "../../db/client.ts";

/**
 * Write a batch of status messages in one statement. Only the newest message per
 * agent matters (heartbeats and status changes carry the full state). "Newest"
 * never trusts agent clocks: within one agent process (`instanceId`) the higher
 * `seq` wins, and a message from a different process than the last applied one
 * takes over (the agent restarted). So redelivery and reordering are harmless.
 * A message only touches the agent of its own tenant.
 *
 * `messages` are in stream (arrival) order. Returns how many agents were updated.
 */
export async function applyStatusBatch(db: Db, messages: AgentStatusMessage[]): Promise<number> {
  const newest = new Map<string, AgentStatusMessage>();
  for (const m of messages) {
    const key = `${m.tenantId}/${m.agentId}`;
    const seen = newest.get(key);
    if (!seen || seen.instanceId !== m.instanceId || m.seq > seen.seq) newest.set(key, m);
  }
  if (newest.size === 0) return 0;

  const rows = [...newest.values()].map((m) => ({
    agent_id: m.agentId,
    tenant_id: m.tenantId,
    instance: m.instanceId,
    seq: m.seq,
    at: m.at,
    ...(m.type === "goodbye"
      ? { status: "offline", probes: null, applied: null, invalid: null, conflicts: null, hb: null }
      : { status: "online", probes: m.probes, applied: m.appliedPolicies, invalid: m.invalidPolicies, conflicts: m.conflicts, hb: m.heartbeatIntervalSec }),
  }));
  // jsonb_to_recordset turns the batch into a table in one round trip.
  const result = await db.execute(sql`
    update agents a set
      status = m.status::agent_status,
      last_seen_at = now(),
      last_status_at = to_timestamp(m.at / 1000.0),
      status_instance = m.instance,
      status_seq = m.seq,
      probes = coalesce(m.probes, a.probes),
      applied_policies = coalesce(m.applied, a.applied_policies),
      invalid_policies = coalesce(m.invalid, a.invalid_policies),
      policy_conflicts = coalesce(m.conflicts, a.policy_conflicts),
      heartbeat_interval_sec = coalesce(ceil(m.hb)::int, a.heartbeat_interval_sec)
    from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
      as m(agent_id text, tenant_id text, instance text, seq integer, at double precision, status text, probes jsonb, applied jsonb, invalid jsonb, conflicts jsonb, hb double precision)
    where a.id = m.agent_id and a.tenant_id = m.tenant_id
      and (a.status_instance is distinct from m.instance or a.status_seq < m.seq)
    returning a.id`);
  return result.length;
}
