import type { AgentRow } from "../../db/schema.ts";

/** The API shape of an agent: the row as stored (its NATS public key is not a secret; its seed never leaves the agent). */
export function toAgentView(row: AgentRow) {
  return row;
}
export type AgentView = ReturnType<typeof toAgentView>;
