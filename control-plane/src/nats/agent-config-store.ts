import { JSONCodec, type KV, type NatsConnection } from "nats";
import { agentConfigBucket, agentConfigNudgeSubject, type AgentConfig } from "@probepilot/shared";
import type { AgentConfigPublisher } from "../services/agents/agent-config-publisher.ts";

const json = JSONCodec<AgentConfig>();

/**
 * Agent central config in NATS: one KV key per agent (durable: read on every
 * (re)connect) plus a core-NATS nudge so online agents re-read at once.
 */
export class NatsAgentConfigStore implements AgentConfigPublisher {
  private readonly buckets = new Map<string, Promise<KV>>();

  constructor(private readonly nc: NatsConnection) {}

  async publishAgentConfig(tenantId: string, agentId: string, config: AgentConfig): Promise<void> {
    const kv = await this.bucket(tenantId);
    await kv.put(agentId, json.encode(config));
    this.nc.publish(agentConfigNudgeSubject(tenantId, agentId), json.encode(config));
  }

  private bucket(tenantId: string): Promise<KV> {
    let kv = this.buckets.get(tenantId);
    if (!kv) {
      kv = this.nc.jetstream().views.kv(agentConfigBucket(tenantId), { history: 1 });
      kv.catch(() => this.buckets.delete(tenantId));
      this.buckets.set(tenantId, kv);
    }
    return kv;
  }
}
