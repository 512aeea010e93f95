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
};

const stringParam = (v: unknown) => (typeof v === "string" && v ? v : undefined);

/** `Authorization: Bearer <token>` → token, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = header?.match(/^Bearer\s+(\S+)\s*$/i);
  return match?.[1];
}

/** The control plane's HTTP surface: tRPC at `/trpc/*`, ops routes, and the web app. */
export function createHttpApp(deps: HttpDeps): Hono {
  const app = new Hono();

  app.use(async (c, next) => {
    const started = performance.now();
    await next();
    const route = c.req.path.startsWith("/trpc/") ? "trpc" : c.req.path;
    deps.metrics.httpRequests.inc({ route: ["trpc", "/healthz", "/metrics"].includes(route) ? route : route.startsWith("/assets/") ? "assets" : route.startsWith("/v1/agents/") ? "agents" : "web", status: String(c.res.status) });
    deps.log.debug({ method: c.req.method, path: c.req.path, status: c.res.status, ms: Math.round(performance.now() - started) }, "http");
  });

  app.route("/", opsRoutes(deps.health, deps.metrics.registry));
  app.route("/", agentRoutes({ db: deps.db, issuer: deps.credentials, log: deps.log.child({ component: "agent-routes" }), metrics: deps.metrics }));

  app.use(
    "/trpc/*",
    trpcServer({
      router: appRouter,
      endpoint: "/trpc",
      createContext: (opts, c) => ({
        db: deps.db,
        log: deps.log,
        agentConfig: deps.agentConfig,
        credentials: deps.credentials,
        tap: deps.tap,
        rolloutSignals: deps.rolloutSignals,
        // Browsers' EventSource cannot send headers: subscriptions may pass the token as a connection parameter.
        bearerToken: bearerToken(c.req.header("authorization")) ?? stringParam(opts.info.connectionParams?.token),
      }),
      onError: ({ error, path }) => {
        if (error.code === "INTERNAL_SERVER_ERROR") deps.log.error({ err: error.cause ?? error, path }, "tRPC procedure failed");
      },
    }),
  );

  // Last: everything that is not the API or an ops route is the web app.
  app.route("/", webAppRoutes(deps.webDir, deps.log));
  return app;
}
