import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { getConnInfo } from "@hono/node-server/conninfo";
import { TRPC_ERROR_CODES_BY_KEY } from "@trpc/server/rpc";
import type { TRPC_ERROR_CODE_KEY } from "@trpc/server/rpc";
import { clipForMessage } from "@probepilot/shared";
import type { Logger } from "../logger.ts";
import { hashSecret } from "../services/auth/secrets.ts";
import { addressKey, RateLimiter, type Take } from "./rate-limit.ts";
import type { ApiGuardOptions } from "./api-guard-options.ts";

export { DEFAULT_API_GUARD, type ApiGuardOptions } from "./api-guard-options.ts";
import type { GuardMetrics } from "./guard-metrics.ts";

/** Headers a page on an allowed origin may read. */
const EXPOSED_HEADERS = "RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Retry-After";
const ALLOWED_REQUEST_HEADERS = "authorization, content-type, trpc-accept, last-event-id";

/** `Authorization: Bearer <token>` → token, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = header?.match(/^Bearer\s+(\S+)\s*$/i);
  return match?.[1];
}

/** The `token` connection parameter in a URL (`?connectionParams={"token":…}`, what httpSubscriptionLink sends), or undefined. */
export function urlToken(url: string): string | undefined {
  const raw = new URL(url).searchParams.get("connectionParams");
  if (!raw) return undefined;
  try {
    const params = JSON.parse(raw) as unknown;
    const token = params && typeof params === "object" ? (params as Record<string, unknown>).token : undefined;
    return typeof token === "string" && token ? token : undefined;
  } catch {
    return undefined;
  }
}

/** A JSON error in tRPC's shape, so that tRPC clients show its message (a batch maps one error to every call). */
export function trpcErrorBody(code: TRPC_ERROR_CODE_KEY, httpStatus: number, message: string, extra: Record<string, unknown> = {}) {
  return { error: { message, code: TRPC_ERROR_CODES_BY_KEY[code], data: { code, httpStatus, ...extra } } };
}

/** Calls in a tRPC request: `/trpc/a,b,c?batch=1` is 3. */
function callsIn(path: string): number {
  const procedures = path.replace(/^\/trpc\/?/, "");
  return Math.max(1, procedures.split(/,|%2C/i).length);
}

/**
 * The API's guards, shared by the HTTP middlewares and tRPC's auth middleware:
 * CORS, per-token and per-address rate limits, the body limit.
 *
 * Rate limits run before authentication, on what the request presents: a token
 * this process has verified before takes from its own bucket; anything else (no
 * token, a wrong, revoked or expired one, a good token on its first request)
 * takes from its client address's bucket, so a flood of made-up tokens reaches
 * Postgres at most at that rate. Authentication then tells the guard which tokens
 * are good (`tokenVerified`) and which are not (`tokenRefused`).
 */
export class ApiGuard {
  readonly tokens: RateLimiter;
  readonly addresses: RateLimiter;
  /** Per client address on the agent routes (enroll, renew). */
  readonly agentAddresses: RateLimiter;
  private readonly corsAny: boolean;
  private readonly corsAllowed: Set<string>;
  /** Refusal log lines, at most one a second per bucket (each refusal is counted in the metric). */
  private readonly lastLog = new Map<string, { at: number; suppressed: number }>();

  constructor(
    readonly options: ApiGuardOptions,
    private readonly metrics: GuardMetrics,
    private readonly log: Logger,
  ) {
    this.tokens = new RateLimiter(options.tokenRate);
    this.addresses = new RateLimiter(options.anonRate);
    this.agentAddresses = new RateLimiter(options.agentRate);
    this.corsAny = options.corsOrigins.includes("*");
    this.corsAllowed = new Set(options.corsOrigins.map((o) => o.toLowerCase()));
  }

  /** The caller's address: the socket's peer, or (trustProxy) the last X-Forwarded-For entry. */
  clientAddress(c: Context): string | undefined {
    if (this.options.trustProxy) {
      const forwarded = c.req.header("x-forwarded-for")?.split(",").map((s) => s.trim()).filter(Boolean);
      if (forwarded?.length) return forwarded[forwarded.length - 1];
    }
    try {
      return getConnInfo(c).remote.address;
    } catch {
      return undefined; // not served by @hono/node-server (app.request in tests)
    }
  }

  /** A verified token: later requests take from its own bucket (this one already passed). */
  tokenVerified(token: string, tokenId: string): void {
    this.tokens.admit(hashSecret(token), 1, tokenId);
  }

  /** A token that failed authentication goes back to its address's bucket. */
  tokenRefused(token: string): void {
    this.tokens.forget(hashSecret(token));
  }

  /**
   * Cross-origin requests: none allowed unless the origin is configured. A request
   * from a page on another origin is refused with 403 and no CORS headers (a
   * preflight too, so the browser never sends the real one).
   */
  cors(): MiddlewareHandler {
    return async (c, next) => {
      const origin = c.req.header("origin");
      if (!origin || isSameOrigin(origin, c.req.header("host"))) return next();
      if (!this.corsAny && !this.corsAllowed.has(origin.toLowerCase())) {
        this.metrics.refused.inc({ reason: "cross_origin" });
        this.logRefusal(`cors:${origin}`, { reason: "cross_origin", origin: clipForMessage(origin, 100), method: c.req.method, path: clipForMessage(c.req.path, 200) }, "cross-origin request refused");
        return c.json(trpcErrorBody("FORBIDDEN", 403, `cross-origin request from ${clipForMessage(origin, 100)} refused: only this control plane's own pages and the origins in PROBEPILOT_CORS_ORIGINS may call the API`), 403);
      }
      const allow = (headers: Headers) => {
        headers.set("Access-Control-Allow-Origin", origin);
        headers.append("Vary", "Origin");
        headers.set("Access-Control-Expose-Headers", EXPOSED_HEADERS);
      };
      if (c.req.method === "OPTIONS") {
        const res = new Response(null, { status: 204 });
        allow(res.headers);
        res.headers.set("Access-Control-Allow-Methods", "GET, POST");
        res.headers.set("Access-Control-Allow-Headers", ALLOWED_REQUEST_HEADERS);
        res.headers.set("Access-Control-Max-Age", "600");
        return res;
      }
      await next();
      setHeaders(c, allow);
    };
  }

  /**
   * The agent routes' per-address bucket: 429 with Retry-After and the agents' refusal shape
   * (`{ok: false, code: "UNAVAILABLE"}`: agents wait and retry).
   */
  agentRateLimit(): MiddlewareHandler {
    return async (c, next) => {
      if (!this.agentAddresses.enabled) return next();
      const address = this.clientAddress(c);
      const bucketKey = addressKey(address);
      const take = this.agentAddresses.take(bucketKey);
      if (take.ok) return next();
      this.metrics.rateLimited.inc({ scope: "agent_address" });
      this.logRefusal(`agent:${bucketKey}`, { scope: "agent_address", client: address ?? "unknown", path: clipForMessage(c.req.path, 200), retryAfterSec: take.retryAfterSec }, "rate limited");
      const { perSecond, burst } = this.options.agentRate;
      const res = c.json({ ok: false, code: "UNAVAILABLE", message: `rate limited: too many agent requests from this address (${perSecond}/s, bursts of ${burst}); retry in ${take.retryAfterSec} s` }, 429);
      res.headers.set("Retry-After", String(take.retryAfterSec));
      rateLimitHeaders(res.headers, take);
      return res;
    };
  }

  /** Token buckets: 429 with Retry-After when empty; RateLimit-* headers on every answer. */
  rateLimit(): MiddlewareHandler {
    return async (c, next) => {
      if (c.req.method === "OPTIONS" || (!this.tokens.enabled && !this.addresses.enabled)) return next();
      const cost = callsIn(c.req.path);
      const token = bearerToken(c.req.header("authorization")) ?? urlToken(c.req.url);
      const key = token ? hashSecret(token) : null;
      let take: Take;
      let scope: "token" | "address";
      let bucketKey: string;
      let who: Record<string, unknown>;
      if (key && this.tokens.has(key)) {
        scope = "token";
        bucketKey = key;
        take = this.tokens.take(key, cost);
        who = { tokenId: this.tokens.labelOf(key) };
      } else {
        scope = "address";
        const address = this.clientAddress(c);
        bucketKey = addressKey(address);
        take = this.addresses.take(bucketKey, cost);
        who = { client: address ?? "unknown", token: token ? "unverified" : "none" };
      }
      if (!take.ok) {
        this.metrics.rateLimited.inc({ scope });
        this.logRefusal(`${scope}:${bucketKey}`, { scope, ...who, path: clipForMessage(c.req.path, 200), calls: cost, retryAfterSec: take.retryAfterSec }, "rate limited");
        const policy = scope === "token" ? this.options.tokenRate : this.options.anonRate;
        const whose = scope === "token" ? "this API token" : "this client address without a verified API token";
        const res = c.json(
          trpcErrorBody(
            "TOO_MANY_REQUESTS",
            429,
            `rate limited: too many requests for ${whose} (${policy.perSecond}/s, bursts of ${policy.burst}); retry in ${take.retryAfterSec} s`,
            { retryAfterSec: take.retryAfterSec },
          ),
          429,
        );
        res.headers.set("Retry-After", String(take.retryAfterSec));
        rateLimitHeaders(res.headers, take);
        return res;
      }
      await next();
      if ((scope === "token" ? this.tokens : this.addresses).enabled) setHeaders(c, (h) => rateLimitHeaders(h, take));
    };
  }

  /** Bodies over `maxBodyBytes` get a 413 before anything parses them (a declared length is refused unread). */
  bodyLimit(): MiddlewareHandler {
    const max = this.options.maxBodyBytes;
    return bodyLimit({
      maxSize: max,
      onError: (c) => {
        this.metrics.refused.inc({ reason: "body_too_large" });
        const declared = Number(c.req.header("content-length") ?? NaN);
        this.logRefusal(`body:${addressKey(this.clientAddress(c))}`, { reason: "body_too_large", client: this.clientAddress(c) ?? "unknown", path: clipForMessage(c.req.path, 200), ...(Number.isFinite(declared) ? { bytes: declared } : {}), maxBytes: max }, "request body too large");
        const res = c.json(trpcErrorBody("PAYLOAD_TOO_LARGE", 413, `request body too large: at most ${max} bytes (PROBEPILOT_MAX_BODY_BYTES)${Number.isFinite(declared) ? `, got ${declared}` : ""}`), 413);
        // The rest of the body is not read: close the connection instead of draining it.
        res.headers.set("Connection", "close");
        return res;
      },
    });
  }

  private logRefusal(key: string, fields: Record<string, unknown>, msg: string): void {
    const now = Date.now();
    const last = this.lastLog.get(key);
    if (last && now - last.at < 1000) {
      last.suppressed++;
      return;
    }
    if (this.lastLog.size > 10_000) this.lastLog.clear();
    this.lastLog.set(key, { at: now, suppressed: 0 });
    this.log.warn({ ...fields, ...(last?.suppressed ? { alsoRefusedSinceLastLine: last.suppressed } : {}) }, msg);
  }
}

function rateLimitHeaders(headers: Headers, take: Take): void {
  headers.set("RateLimit-Limit", String(take.limit));
  headers.set("RateLimit-Remaining", String(Math.max(0, take.remaining)));
  headers.set("RateLimit-Reset", String(take.resetSec));
}

/** Set headers on the response a handler produced (copying it when its headers are immutable). */
export function setHeaders(c: Context, set: (headers: Headers) => void): void {
  try {
    set(c.res.headers);
  } catch {
    c.res = new Response(c.res.body, c.res);
    set(c.res.headers);
  }
}

/** An `Origin` naming the host the request was sent to (the scheme is not compared: a TLS proxy may sit in front). */
function isSameOrigin(origin: string, host: string | undefined): boolean {
  if (!host) return false;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false; // "null" (sandboxed frames, file://) and garbage
  }
  const strip = (h: string) => h.toLowerCase().replace(/:(80|443)$/, "");
  return strip(url.host) === strip(host);
}
