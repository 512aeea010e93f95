import type { AgentRow } from "../../db/schema.ts";

/** The API shape of an agent: the row without its key hash. */
export function toAgentView(row: AgentRow) {
  const { agentKeyHash: _secret, ...view } = row;
  return view;
}
export type AgentView = ReturnType<typeof toAgentView>;
