import { sql } from "drizzle-orm";
import type { AgentStatusMessage } from "@probepilot/shared";
import type { Db } from "../../db/client.ts";

/** A validated status message and where it sits in the status stream. */
export type StreamedStatus = { status: AgentStatusMessage; streamSeq: number };

/**
 * Write a batch of status messages in one statement. Only the newest message per
 * agent matters (heartbeats and status changes carry the full state). "Newest"
 * is the position in the status stream — arrival order, assigned by JetStream —
 * never an agent's clock: a message is applied only if it sits after the last
 * one applied for that agent, so a redelivered older message changes nothing.
 * `streamEpoch` identifies the stream incarnation (its creation time): positions
 * from a recreated stream start afresh. A message only touches the agent of its
 * own tenant. Returns how many agents were updated.
 */
export async function applyStatusBatch(db: Db, streamEpoch: string, messages: StreamedStatus[]): Promise<number> {
  const newest = new Map<string, StreamedStatus>();
  for (const m of messages) {
    const key = `${m.status.tenantId}/${m.status.agentId}`;
    const seen = newest.get(key);
    if (!seen || m.streamSeq > seen.streamSeq) newest.set(key, m);
  }
  if (newest.size === 0) return 0;

  const rows = [...newest.values()].map(({ status: m, streamSeq }) => ({
    agent_id: m.agentId,
    tenant_id: m.tenantId,
    instance: m.instanceId,
    sseq: streamSeq,
    at: m.at,
    ...(m.type === "goodbye"
      ? { status: "offline", probes: null, applied: null, invalid: null, conflicts: null, telemetry: null, hb: null }
      : { status: "online", probes: m.probes, applied: m.appliedPolicies, invalid: m.invalidPolicies, conflicts: m.conflicts, telemetry: m.telemetry ?? null, hb: m.heartbeatIntervalSec }),
  }));
  // jsonb_to_recordset turns the batch into a table in one round trip.
  const result = await db.execute(sql`
    update agents a set
      status = m.status::agent_status,
      last_seen_at = now(),
      last_status_at = to_timestamp(m.at / 1000.0),
      status_instance = m.instance,
      status_stream_epoch = ${streamEpoch},
      status_stream_seq = m.sseq,
      probes = coalesce(m.probes, a.probes),
      applied_policies = coalesce(m.applied, a.applied_policies),
      invalid_policies = coalesce(m.invalid, a.invalid_policies),
      policy_conflicts = coalesce(m.conflicts, a.policy_conflicts),
      telemetry = coalesce(m.telemetry, a.telemetry),
      heartbeat_interval_sec = coalesce(ceil(m.hb)::int, a.heartbeat_interval_sec)
    from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
      as m(agent_id text, tenant_id text, instance text, sseq bigint, at double precision, status text, probes jsonb, applied jsonb, invalid jsonb, conflicts jsonb, telemetry jsonb, hb double precision)
    where a.id = m.agent_id and a.tenant_id = m.tenant_id
      -- A revoked agent stays revoked: a status it sent before it was cut off changes nothing.
      and a.revoked_at is null
      and (a.status_stream_epoch is distinct from ${streamEpoch} or a.status_stream_seq < m.sseq)
    returning a.id`);
  return result.length;
}
