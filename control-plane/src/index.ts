/** The control plane's public surface for clients (CLI, web, tools): types only at runtime boundaries. */
export type { AppRouter } from "./trpc/app-router.ts";
export type { AgentView } from "./services/agents/agent-view.ts";
