import { router } from "./init.ts";
import { agentsRouter } from "./routers/agents.ts";
import { tokensRouter } from "./routers/tokens.ts";
import { enrollTokensRouter } from "./routers/enroll-tokens.ts";
import { systemRouter } from "./routers/system.ts";
import { telemetryRouter } from "./routers/telemetry.ts";
import { rolloutsRouter } from "./routers/rollouts.ts";
import { probesRouter } from "./routers/probes.ts";

export const appRouter = router({
  agents: agentsRouter,
  tokens: tokensRouter,
  enrollTokens: enrollTokensRouter,
  system: systemRouter,
  telemetry: telemetryRouter,
  rollouts: rolloutsRouter,
  probes: probesRouter,
});

/** The API contract: clients use `import type { AppRouter }` only. */
export type AppRouter = typeof appRouter;
