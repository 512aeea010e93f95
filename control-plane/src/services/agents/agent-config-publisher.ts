import type { AgentConfig } from "@probepilot/shared";

/**
 * How services hand an agent its central config. The NATS implementation
 * (`nats/agent-config-store.ts`) writes the agent's KV key and nudges the agent.
 */
export interface AgentConfigPublisher {
  publishAgentConfig(tenantId: string, agentId: string, config: AgentConfig): Promise<void>;
}
