import { Hono, type Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { z } from "zod";
import { EnrollRequestSchema, RenewRequestSchema, describeZodError, type AgentErrorReply, type ErrorCode } from "@probepilot/shared";
import type { Db } from "../db/client.ts";
import type { Logger } from "../logger.ts";
import type { ControlPlaneMetrics } from "../metrics.ts";
import type { AgentCredentialIssuer } from "../services/agents/agent-credential-issuer.ts";
import { enrollAgent } from "../services/agents/enroll-agent.ts";
import { renewAgentCredentialsWithProof } from "../services/agents/renew-agent-credentials.ts";
import { ServiceError } from "../services/errors.ts";

/** A hello with its labels and capabilities is a few KiB; anything near this is not an agent. */
export const AGENT_ROUTE_BODY_LIMIT_BYTES = 64 * 1024;

const HTTP_STATUS: Record<ErrorCode, ContentfulStatusCode> = {
  INVALID: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  UNAVAILABLE: 503,
  INTERNAL: 500,
};

export type AgentRouteDeps = { db: Db; issuer: AgentCredentialIssuer; log: Logger; metrics: ControlPlaneMetrics };

/**
 * What agents ask of the control plane over HTTP(S), before they can use NATS:
 * `POST /v1/agents/enroll` (enrollment token + the public key the agent made →
 * identity and user JWT) and `POST /v1/agents/renew` (an expired JWT renewed by
 * proving possession of the seed). JSON in and out; refusals are
 * `{ok: false, code, message}` with the matching HTTP status. Enrollment travels
 * over HTTPS in production, so the token is never on the NATS bus.
 */
export function agentRoutes(deps: AgentRouteDeps): Hono {
  const app = new Hono();
  const limit = bodyLimit({
    maxSize: AGENT_ROUTE_BODY_LIMIT_BYTES,
    onError: (c) => c.json(refusal("INVALID", `request body over ${AGENT_ROUTE_BODY_LIMIT_BYTES} bytes`), 413),
  });

  app.post("/v1/agents/enroll", limit, async (c) => {
    const outcome = await handle(c, deps, EnrollRequestSchema, "enroll request", (input) => enrollAgent(deps.db, deps.issuer, input));
    deps.metrics.enrollments.inc({ outcome: outcome.code });
    if (outcome.result) deps.log.info({ agentId: outcome.result.agentId, tenantId: outcome.result.tenantId }, "agent enrolled");
    return outcome.response;
  });

  app.post("/v1/agents/renew", limit, async (c) => {
    const outcome = await handle(c, deps, RenewRequestSchema, "renew request", (input) => renewAgentCredentialsWithProof(deps.db, deps.issuer, input));
    deps.metrics.agentRequests.inc({ verb: "renew-http", outcome: outcome.code });
    return outcome.response;
  });
  return app;
}

/** Parse, run, and shape the answer; a refusal is logged and counted by the caller under its code. */
async function handle<S extends z.ZodType, R>(c: Context, deps: AgentRouteDeps, schema: S, what: string, run: (input: z.infer<S>) => Promise<R>) {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    return refused(c, deps, new ServiceError("INVALID", `malformed ${what}: the body is not JSON`));
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) return refused(c, deps, new ServiceError("INVALID", `malformed ${what}: ${describeZodError(parsed.error)}`));
  try {
    const result = await run(parsed.data);
    return { code: "ok" as const, result, response: c.json(result, 200) };
  } catch (error) {
    return refused(c, deps, error);
  }
}

function refused(c: Context, deps: AgentRouteDeps, error: unknown) {
  const code: ErrorCode = error instanceof ServiceError ? error.code : "INTERNAL";
  const message = error instanceof ServiceError ? error.message : "internal error; see the control-plane log";
  if (code === "INTERNAL") deps.log.error({ err: error, path: c.req.path }, "agent route failed");
  else deps.log.warn({ code, message, path: c.req.path }, "agent request refused");
  return { code: code.toLowerCase(), result: null, response: c.json(refusal(code, message), HTTP_STATUS[code]) };
}

const refusal = (code: ErrorCode, message: string): AgentErrorReply => ({ ok: false, code, message });
