import { JSONCodec, type NatsConnection, type Subscription } from "nats";
import type { ZodError } from "zod";
import { ENROLL_QUEUE, ENROLL_SUBJECT, EnrollRequestSchema, describeZodError, type EnrollReply } from "@probepilot/shared";
import type { Db } from "../db/client.ts";
import type { Logger } from "../logger.ts";
import type { ControlPlaneMetrics } from "../metrics.ts";
import { enrollAgent } from "../services/agents/enroll-agent.ts";
import { ServiceError } from "../services/errors.ts";
import { ensureTenantBuckets } from "./jetstream-setup.ts";

const json = JSONCodec<unknown>();

/**
 * Answers agents' enroll requests. A queue group spreads requests over every
 * running control plane. Bad requests get a reply with a code and message, never silence.
 */
export function startEnrollResponder(nc: NatsConnection, db: Db, log: Logger, metrics: ControlPlaneMetrics): Subscription {
  /** Tenants whose buckets this process has made sure of (a fleet enrolling is thousands of requests for one tenant). */
  const bucketsEnsured = new Set<string>();
  return nc.subscribe(ENROLL_SUBJECT, {
    queue: ENROLL_QUEUE,
    callback: (err, msg) => {
      if (err) return log.error({ err }, "enroll subscription failed");
      void (async () => {
        let reply: EnrollReply;
        try {
          const body = safeJson(msg.data);
          if (body === NOT_JSON) throw new ServiceError("INVALID", "malformed enroll request: body is not JSON; expected {enrollmentToken, hello} or {agentId, agentKey, hello}");
          const parsed = EnrollRequestSchema.safeParse(body);
          if (!parsed.success) throw new ServiceError("INVALID", `malformed enroll request: ${describeEnrollError(body, parsed.error)}`);
          const ok = await enrollAgent(db, parsed.data);
          // The buckets exist from start-up; this only covers a tenant created since. A failure here must
          // not fail the reply: the agent is enrolled (committed) and would otherwise enroll twice.
          if (!bucketsEnsured.has(ok.tenantId)) {
            await ensureTenantBuckets(nc, ok.tenantId).then(
              () => bucketsEnsured.add(ok.tenantId),
              (err) => log.warn({ err, tenantId: ok.tenantId }, "could not ensure the tenant's KV buckets"),
            );
          }
          reply = ok;
          metrics.enrollments.inc({ outcome: "agentKey" in parsed.data && !ok.agentKey ? "reidentified" : "enrolled" });
          log.info({ agentId: ok.agentId, tenantId: ok.tenantId, hostname: parsed.data.hello.hostname, firstTime: Boolean(ok.agentKey) }, "agent enrolled");
        } catch (error) {
          const code = error instanceof ServiceError ? error.code : "INTERNAL";
          const message = error instanceof ServiceError ? error.message : "internal error while enrolling; see the control-plane log";
          if (code === "INTERNAL") log.error({ err: error }, "enroll failed");
          else log.warn({ code, message }, "enroll refused");
          metrics.enrollments.inc({ outcome: code.toLowerCase() });
          reply = { ok: false, code, message };
        }
        msg.respond(json.encode(reply));
      })();
    },
  });
}

const NOT_JSON = Symbol("not JSON");

function safeJson(data: Uint8Array): unknown {
  try {
    return json.decode(data);
  } catch {
    return NOT_JSON;
  }
}

/**
 * zod reports a request that fits neither form of the union as a bare
 * "(root): Invalid input"; check it against the form it aims at (an `agentId` or
 * `agentKey` means re-identify) so that the message names the field.
 */
function describeEnrollError(body: unknown, error: ZodError): string {
  const [byToken, byKey] = EnrollRequestSchema.options;
  const reidentify = typeof body === "object" && body !== null && ("agentId" in body || "agentKey" in body);
  const branch = (reidentify ? byKey : byToken).safeParse(body);
  return describeZodError(branch.success ? error : branch.error);
}
