import { randomUUID } from "node:crypto";
import { JSONCodec, type NatsConnection } from "nats";
import { ENROLL_SUBJECT, EnrollReplySchema, type AgentConfig, type AgentHello, type EnrollRequest } from "@probepilot/shared";
import type { Logger } from "../logger.ts";
import { saveIdentity, type AgentIdentity } from "../identity/identity-store.ts";

const json = JSONCodec<unknown>();

/** The control plane refused this agent for good (bad token, unknown identity): retrying will not help. */
export class EnrollRefusedError extends Error {
  override readonly name = "EnrollRefusedError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export type EnrollOptions = {
  nc: NatsConnection;
  hello: AgentHello;
  dataDir: string;
  identity: AgentIdentity | null;
  enrollToken?: string;
  log: Logger;
  /** Aborted on shutdown: stops the retry loop. */
  signal?: AbortSignal;
  requestTimeoutMs?: number;
};

/**
 * Enroll (first start, with the enrollment token) or re-identify (later starts,
 * with the stored id and key). Retries with backoff while no control plane
 * answers; stores a new identity before returning it.
 */
export async function enrollAgent(opts: EnrollOptions): Promise<{ identity: AgentIdentity; config: AgentConfig }> {
  let identity = opts.identity;
  let backoffMs = 500;
  // Kept across retries: a retry after a lost reply gets the agent created the first time.
  const requestId = randomUUID();
  for (;;) {
    opts.signal?.throwIfAborted();
    let request: EnrollRequest;
    if (identity) request = { agentId: identity.agentId, agentKey: identity.agentKey, hello: opts.hello };
    else if (opts.enrollToken) request = { enrollmentToken: opts.enrollToken, requestId, hello: opts.hello };
    else throw new EnrollRefusedError("this agent has no identity yet: pass --enroll-token (or PROBEPILOT_ENROLL_TOKEN) from `probepilot enroll-tokens create`");

    let raw: unknown;
    try {
      const reply = await opts.nc.request(ENROLL_SUBJECT, json.encode(request), { timeout: opts.requestTimeoutMs ?? 5000 });
      raw = json.decode(reply.data);
    } catch (err) {
      opts.log.warn({ err: (err as Error).message, retryInMs: backoffMs }, "control plane did not answer the enroll request; retrying");
      await sleep(backoffMs, opts.signal);
      backoffMs = Math.min(backoffMs * 2, 30_000);
      continue;
    }
    const reply = EnrollReplySchema.parse(raw);
    if (reply.ok) {
      if (reply.agentKey) {
        identity = { agentId: reply.agentId, tenantId: reply.tenantId, agentKey: reply.agentKey, enrolledAt: new Date().toISOString() };
        await saveIdentity(opts.dataDir, identity);
        opts.log.info({ agentId: identity.agentId, tenantId: identity.tenantId }, "enrolled");
      } else opts.log.info({ agentId: reply.agentId }, "re-identified with the control plane");
      return { identity: identity!, config: reply.config };
    }
    if (reply.code === "UNAUTHORIZED" && identity && opts.enrollToken) {
      // The control plane no longer knows this identity (for example a reset database): enroll afresh.
      opts.log.warn({ agentId: identity.agentId, reason: reply.message }, "stored identity refused; enrolling again with the enrollment token");
      identity = null;
      continue;
    }
    if (reply.code === "UNAVAILABLE" || reply.code === "INTERNAL") {
      // The control plane's trouble (its database, a race with our own earlier attempt), not a verdict on us.
      opts.log.warn({ code: reply.code, reason: reply.message, retryInMs: backoffMs }, "control plane could not enroll this agent now; retrying");
      await sleep(backoffMs, opts.signal);
      backoffMs = Math.min(backoffMs * 2, 30_000);
      continue;
    }
    throw new EnrollRefusedError(`enrollment refused (${reply.code}): ${reply.message}`);
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => (clearTimeout(timer), reject(signal.reason)), { once: true });
  });
}
