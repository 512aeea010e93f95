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
import type { TokenEnd, TokenWatch } from "../services/auth/token-watch.ts";
import { ServiceError } from "../services/errors.ts";

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
  /** Why a token the request carried was not taken (a token in the URL of a query or mutation): the 401 says so. */
  tokenRefusal?: string | undefined;
  /** The HTTP layer's rate limiter, told which tokens authenticate (absent for server-side callers). */
  guard?: { tokenVerified(token: string, tokenId: string): void; tokenRefused(token: string): void } | undefined;
  /** Ends live streams whose token is revoked or expires (absent for server-side callers). */
  tokenWatch?: TokenWatch | undefined;
  /** Counts streams ended that way. */
  onStreamEnded?: ((end: TokenEnd) => void) | undefined;
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
  t.middleware(async ({ ctx, next, type, signal }) => {
    if (!ctx.bearerToken && ctx.tokenRefusal) throw new ServiceError("UNAUTHORIZED", ctx.tokenRefusal);
    let principal: Principal;
    try {
      principal = await authenticate(ctx.db, ctx.bearerToken);
    } catch (err) {
      if (ctx.bearerToken) ctx.guard?.tokenRefused(ctx.bearerToken);
      throw err;
    }
    if (ctx.bearerToken) ctx.guard?.tokenVerified(ctx.bearerToken, principal.tokenId);
    if (!roleAtLeast(principal.role, need)) {
      throw new TRPCError({ code: "FORBIDDEN", message: `this call needs the "${need}" role; your token has "${principal.role}"` });
    }
    if (type !== "subscription" || !ctx.tokenWatch) return next({ ctx: { ...ctx, principal, streamSignal: undefined as AbortSignal | undefined } });

    // A live stream outlives the check above: it ends (UNAUTHORIZED) when its token is revoked or expires.
    const live = new AbortController();
    const endLive = () => live.abort();
    signal?.addEventListener("abort", endLive, { once: true });
    if (signal?.aborted) live.abort();
    const result = await next({ ctx: { ...ctx, principal, streamSignal: live.signal as AbortSignal | undefined } });
    if (!result.ok || !isAsyncIterable(result.data)) {
      signal?.removeEventListener("abort", endLive);
      return result;
    }
    const stream = endWhenTokenEnds(result.data, ctx.tokenWatch, principal, live, (end) => ctx.onStreamEnded?.(end));
    const cleanup = () => signal?.removeEventListener("abort", endLive);
    return { ...result, data: finallyDo(stream, cleanup) };
  });

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return value !== null && typeof value === "object" && Symbol.asyncIterator in value;
}

async function* finallyDo<T>(stream: AsyncIterable<T>, done: () => void): AsyncGenerator<T> {
  try {
    yield* stream;
  } finally {
    done();
  }
}

/**
 * `stream`, ended with an UNAUTHORIZED error (which clients do not retry) when the
 * principal's token is revoked or expires; `live` is aborted then, and whenever the
 * stream ends, so that the producer (which gets `live.signal` as `ctx.streamSignal`) lets go of what it holds.
 */
async function* endWhenTokenEnds<T>(stream: AsyncIterable<T>, watch: TokenWatch, principal: Principal, live: AbortController, onEnd: (end: TokenEnd) => void): AsyncGenerator<T> {
  let ended: TokenEnd | null = null;
  // One settle function per pending `next()` (not a long-lived promise raced again and again, which would pile up reactions).
  let wake: (() => void) | null = null;
  const unwatch = watch.watch(principal, (end) => {
    ended = end;
    onEnd(end);
    live.abort();
    wake?.();
  });
  const it = stream[Symbol.asyncIterator]();
  try {
    for (;;) {
      if (ended) throw new TRPCError({ code: "UNAUTHORIZED", message: (ended as TokenEnd).message });
      const next = await new Promise<IteratorResult<T> | null>((resolve, reject) => {
        wake = () => resolve(null);
        it.next().then(resolve, reject);
      });
      wake = null;
      if (ended) throw new TRPCError({ code: "UNAUTHORIZED", message: (ended as TokenEnd).message });
      if (!next || next.done) return;
      yield next.value;
    }
  } finally {
    unwatch();
    live.abort();
    // Not awaited: a producer blocked in a wait returns once it sees the abort.
    void Promise.resolve(it.return?.()).catch(() => {});
  }
}

/** Any valid token (viewer and up): reads. */
export const protectedProcedure = t.procedure.use(mapErrors).use(authenticated("viewer"));
/** Operator and up: day-to-day mutations (labels, rollouts). */
export const operatorProcedure = t.procedure.use(mapErrors).use(authenticated("operator"));
/** Admin only: tokens and enrollment. */
export const adminProcedure = t.procedure.use(mapErrors).use(authenticated("admin"));
