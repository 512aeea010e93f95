import { formatRequirement } from "@probepilot/shared";

/** The host-fact label every agent carries with its host name (agent/src/host/host-facts.ts `HOST_LABEL_KEYS`). */
export const HOSTNAME_LABEL = "probepilot.io/hostname";

/** The host label the fleet simulator puts on its agents (agent/src/simulate/simulated-host.ts): they send no host telemetry. */
export const SIMULATED_LABEL = "probepilot.io/simulated";

/**
 * The agent selector that charts one agent's telemetry.
 *
 * Telemetry selectors match agent *labels* (`telemetry.range` joins `agents.labels`,
 * the live aggregator matches the same labels), and no label carries the agent id:
 * `id=agt_…` would match nothing. The narrowest label every agent has is its
 * hostname fact, taken from the agent's own labels (a central label may override
 * it; the selector must use what the server matches). Two agents with one host
 * name (a host re-enrolled under a new identity) are charted together; the
 * detail page says so when it happens. Null when the label is missing (an agent
 * that predates host facts): an empty selector would chart the whole fleet.
 */
export function agentChartSelector(agent: { labels: Record<string, string> }): string | null {
  const value = agent.labels[HOSTNAME_LABEL];
  return value === undefined ? null : formatRequirement({ op: "eq", key: HOSTNAME_LABEL, value });
}
