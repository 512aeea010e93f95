/** The agent's own version, reported in its hello. */
export const AGENT_VERSION = "0.1.0";
