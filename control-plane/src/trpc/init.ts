import { initTRPC, TRPCError } from "@trpc/server";
import { roleAtLeast, type Role } from "@probepilot/shared";
import type { Db } from "../db/client.ts";
import type { Logger } from "../logger.ts";
import { authenticate, type Principal } from "../services/auth/authenticate.ts";
import type { AgentConfigPublisher } from "../services/agents/agent-config-publisher.ts";
import type { AgentCredentialIssuer } from "../services/agents/agent-credential-issuer.ts";
import { toTRPCError, errorFormatter } from "./error-adapter.ts";
import type { TelemetryTap } from "../services/telemetry/live/telemetry-tap.ts";
import type { RolloutSignals } from "../services/rollouts/rollout-signals.ts";

/** What every request can reach. Built per request from the bearer token. */
export type TrpcContext = {
  db: Db;
  log: Logger;
  agentConfig: AgentConfigPublisher;
  /** NATS credentials: agent revocation, simulator credentials. */
  credentials: AgentCredentialIssuer;
  /** Live telemetry from core NATS, shared by every subscription of a tenant. */
  tap: TelemetryTap;
  /** Rollout changes from any control plane (Postgres NOTIFY), for `rollouts.watch`. */
  rolloutSignals: RolloutSignals;
  bearerToken: string | undefined;
};

const t = initTRPC.context<TrpcContext>().create({
  errorFormatter,
  // Subscriptions run over SSE: pings keep proxies from closing idle streams, and a
  // client that hears nothing for 15 s reconnects (resuming from its last event id).
  sse: { ping: { enabled: true, intervalMs: 5000 }, client: { reconnectAfterInactivityMs: 15_000 } },
});

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;

/**
 * Maps every error thrown further down (middlewares, input parsing, resolvers) to
 * a TRPCError in one place: ServiceError and selector/label errors by their code,
 * anything unexpected to a 500 that does not show its message (see `toTRPCError`).
 */
const mapErrors = t.middleware(async ({ next }) => {
  const result = await next();
  if (!result.ok) throw toTRPCError(result.error);
  return result;
});

/**
 * Resolves the bearer token and checks the role. A failed authentication throws
 * a ServiceError (UNAUTHORIZED, with what was wrong) that `mapErrors`, which runs
 * first on every procedure, turns into a 401.
 */
const authenticated = (need: Role) =>
  t.middleware(async ({ ctx, next }) => {
    const principal: Principal = await authenticate(ctx.db, ctx.bearerToken);
    if (!roleAtLeast(principal.role, need)) {
      throw new TRPCError({ code: "FORBIDDEN", message: `this call needs the "${need}" role; your token has "${principal.role}"` });
    }
    return next({ ctx: { ...ctx, principal } });
  });

/** Any valid token (viewer and up): reads. */
export const protectedProcedure = t.procedure.use(mapErrors).use(authenticated("viewer"));
/** Operator and up: day-to-day mutations (labels, rollouts). */
export const operatorProcedure = t.procedure.use(mapErrors).use(authenticated("operator"));
/** Admin only: tokens and enrollment. */
export const adminProcedure = t.procedure.use(mapErrors).use(authenticated("admin"));
