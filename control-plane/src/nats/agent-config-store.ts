import { JSONCodec, type KV, type NatsConnection } from "nats";
import { AgentConfigSchema, agentConfigBucket, agentConfigNudgeSubject, type AgentConfig } from "@probepilot/shared";
import type { AgentConfigPublisher } from "../services/agents/agent-config-publisher.ts";

const json = JSONCodec<AgentConfig>();

/**
 * Agent central config in NATS: one KV key per agent (durable: read on every
 * (re)connect) plus a core-NATS nudge so online agents re-read at once. Both live
 * in the tenant's account, reached through `tenantNats`; only the control plane
 * may write the key or send the nudge (agents may only read their own).
 */
export class NatsAgentConfigStore implements AgentConfigPublisher {
  private readonly buckets = new Map<string, Promise<KV>>();

  constructor(private readonly tenantNats: (tenantId: string) => Promise<NatsConnection>) {}

  /**
   * Store `config` unless the key already holds a newer revision. Two concurrent
   * `setLabels` calls commit in order in Postgres but may publish out of order; a
   * compare-and-set on the KV revision keeps the older one from overwriting the newer.
   */
  async publishAgentConfig(tenantId: string, agentId: string, config: AgentConfig): Promise<void> {
    const kv = await this.bucket(tenantId);
    for (let attempt = 0; ; attempt++) {
      const entry = await kv.get(agentId);
      const stored = entry?.operation === "PUT" ? AgentConfigSchema.safeParse(entry.json()) : null;
      if (stored?.success && stored.data.revision >= config.revision) return; // a newer config is already there
      try {
        if (entry) await kv.update(agentId, json.encode(config), entry.revision);
        else await kv.create(agentId, json.encode(config));
        break;
      } catch (error) {
        // Someone wrote in between (wrong last sequence): look again.
        if (attempt >= 10) throw error;
      }
    }
    (await this.tenantNats(tenantId)).publish(agentConfigNudgeSubject(tenantId, agentId), json.encode(config));
  }

  private bucket(tenantId: string): Promise<KV> {
    let kv = this.buckets.get(tenantId);
    if (!kv) {
      kv = this.tenantNats(tenantId).then((nc) => nc.jetstream().views.kv(agentConfigBucket(tenantId), { history: 1 }));
      kv.catch(() => this.buckets.delete(tenantId));
      this.buckets.set(tenantId, kv);
    }
    return kv;
  }
}
