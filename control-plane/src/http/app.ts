import { Hono } from "hono";
import { trpcServer } from "@hono/trpc-server";
import type { Db } from "../db/client.ts";
import type { Logger } from "../logger.ts";
import type { ControlPlaneMetrics } from "../metrics.ts";
import type { AgentConfigPublisher } from "../services/agents/agent-config-publisher.ts";
import type { AgentCredentialIssuer } from "../services/agents/agent-credential-issuer.ts";
import { appRouter } from "../trpc/app-router.ts";
import type { TelemetryTap } from "../services/telemetry/live/telemetry-tap.ts";
import type { RolloutSignals } from "../services/rollouts/rollout-signals.ts";
import { opsRoutes, type HealthCheck } from "./ops-routes.ts";
import { agentRoutes } from "./agent-routes.ts";
import { webAppRoutes } from "./web-app.ts";
import { ApiGuard, DEFAULT_API_GUARD, bearerToken, type ApiGuardOptions } from "./api-guard.ts";
import { createGuardMetrics } from "./guard-metrics.ts";
import { securityHeaders } from "./security-headers.ts";
import { TokenWatch } from "../services/auth/token-watch.ts";

export { bearerToken } from "./api-guard.ts";

export type HttpDeps = {
  webDir: string;
  db: Db;
  log: Logger;
  metrics: ControlPlaneMetrics;
  agentConfig: AgentConfigPublisher;
  credentials: AgentCredentialIssuer;
  tap: TelemetryTap;
  rolloutSignals: RolloutSignals;
  health: HealthCheck;
  /** Rate limits, body limit, CORS (env.ts `apiGuardOptionsFromEnv`); the defaults when left out. */
  guard?: ApiGuardOptions;
};

const stringParam = (v: unknown) => (typeof v === "string" && v ? v : undefined);

/** What a query or mutation with its token in the URL is told (URLs end up in logs, proxies and browser history). */
export const TOKEN_IN_URL_REFUSED = "API tokens in the URL are accepted only for live streams (SSE subscriptions): send `Authorization: Bearer <token>`";

/** The control plane's HTTP surface: tRPC at `/trpc/*`, ops routes, and the web app. */
export function createHttpApp(deps: HttpDeps): Hono {
  const app = new Hono();
  const guardLog = deps.log.child({ component: "api-guard" });
  const guardMetrics = createGuardMetrics(deps.metrics.registry);
  const guard = new ApiGuard(deps.guard ?? DEFAULT_API_GUARD, guardMetrics, guardLog);
  const tokenWatch = new TokenWatch(deps.db, guardLog);
  const onStreamEnded = (end: { reason: string }) => guardMetrics.liveStreamsEnded.inc({ reason: end.reason });

  app.use(securityHeaders());

  app.use(async (c, next) => {
    const started = performance.now();
    await next();
    const route = c.req.path.startsWith("/trpc/") ? "trpc" : c.req.path;
    deps.metrics.httpRequests.inc({ route: ["trpc", "/healthz", "/metrics"].includes(route) ? route : route.startsWith("/assets/") ? "assets" : route.startsWith("/v1/agents/") ? "agents" : "web", status: String(c.res.status) });
    deps.log.debug({ method: c.req.method, path: c.req.path, status: c.res.status, ms: Math.round(performance.now() - started) }, "http");
  });

  app.route("/", opsRoutes(deps.health, deps.metrics.registry));
  app.use("/v1/agents/*", guard.agentRateLimit());
  app.route("/", agentRoutes({ db: deps.db, issuer: deps.credentials, log: deps.log.child({ component: "agent-routes" }), metrics: deps.metrics }));

  // In this order: refuse foreign origins, then over-limit callers, then oversized bodies, all before tRPC reads anything.
  app.use("/trpc/*", guard.cors());
  app.use("/trpc/*", guard.rateLimit());
  app.use("/trpc/*", guard.bodyLimit());
  app.use(
    "/trpc/*",
    trpcServer({
      router: appRouter,
      endpoint: "/trpc",
      // The web app batches at most 16; a longer batch is a 400 (each call also counts against the rate limit).
      maxBatchSize: 64,
      createContext: (opts, c) => {
        const header = bearerToken(c.req.header("authorization"));
        // Browsers' EventSource cannot send headers: subscriptions (and only they) may pass the token as a
        // connection parameter, which httpSubscriptionLink puts in the URL (`?connectionParams={"token":…}`).
        const inUrl = stringParam(opts.info.connectionParams?.token);
        const subscription = opts.info.type === "subscription";
        return {
          db: deps.db,
          log: deps.log,
          agentConfig: deps.agentConfig,
          credentials: deps.credentials,
          tap: deps.tap,
          rolloutSignals: deps.rolloutSignals,
          bearerToken: header ?? (subscription ? inUrl : undefined),
          tokenRefusal: !header && inUrl && !subscription ? TOKEN_IN_URL_REFUSED : undefined,
          guard,
          tokenWatch,
          onStreamEnded,
        };
      },
      onError: ({ error, path }) => {
        if (error.code === "INTERNAL_SERVER_ERROR") deps.log.error({ err: error.cause ?? error, path }, "tRPC procedure failed");
      },
    }),
  );

  // Last: everything that is not the API or an ops route is the web app.
  app.route("/", webAppRoutes(deps.webDir, deps.log));
  return app;
}
