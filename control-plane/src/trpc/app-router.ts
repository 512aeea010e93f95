import { router } from "./init.ts";
import { agentsRouter } from "./routers/agents.ts";
import { tokensRouter } from "./routers/tokens.ts";
import { enrollTokensRouter } from "./routers/enroll-tokens.ts";
import { systemRouter } from "./routers/system.ts";
import { telemetryRouter } from "./routers/telemetry.ts";

export const appRouter = router({
  agents: agentsRouter,
  tokens: tokensRouter,
  enrollTokens: enrollTokensRouter,
  system: systemRouter,
  telemetry: telemetryRouter,
});

/** The API contract: clients use `import type { AppRouter }` only. */
export type AppRouter = typeof appRouter;
