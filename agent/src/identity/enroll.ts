import { randomUUID } from "node:crypto";
import { EnrollReplySchema, RenewRequestSchema, AgentJwtSchema, renewChallenge, type AgentConfig, type AgentHello, type AgentJwt } from "@probepilot/shared";
import { NkeyPair } from "@probepilot/shared/nkeys";
import type { Logger } from "../logger.ts";
import { ControlPlaneRefusal, postJson, type ControlPlaneEndpoint } from "./control-plane-client.ts";
import { saveIdentity, type StoredIdentity } from "./identity-store.ts";
import { Backoff, sleep } from "@probepilot/shared";

/** The control plane refused this agent for good (bad token, revoked, unknown identity): retrying will not help. */
export class EnrollRefusedError extends Error {
  override readonly name = "EnrollRefusedError";
  constructor(
    message: string,
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Exit code of an agent that was revoked (systemd: `RestartPreventExitStatus=78`); EX_CONFIG. */
export const EXIT_REVOKED = 78;

export type EnrollOptions = {
  controlPlane: ControlPlaneEndpoint;
  hello: AgentHello;
  dataDir: string;
  enrollToken: string;
  log: Logger;
  /** Aborted on shutdown: stops the retry loop. */
  signal?: AbortSignal;
  /** Made here when absent (the simulator passes its own). */
  key?: NkeyPair;
  /** Persist identity and credentials (default true; the simulator's agents share one connection but keep theirs too). */
  save?: boolean;
};

/**
 * Enroll over the control plane's HTTP(S) API: make an NKEY pair, send the public
 * key with the enrollment token, store the identity and `nats.creds` (mode 0600).
 * Retries with backoff while the control plane is unreachable or busy; a refusal
 * (bad or expired token, use limit) is final.
 */
export async function enrollAgent(opts: EnrollOptions): Promise<StoredIdentity & { config: AgentConfig }> {
  const key = opts.key ?? NkeyPair.create("user");
  // Kept across retries: a retry after a lost reply gets the agent created the first time.
  const requestId = randomUUID();
  const reply = await withRetries(opts.log, opts.signal, "enrollment", async () =>
    EnrollReplySchema.parse(await postJson(opts.controlPlane, "v1/agents/enroll", { enrollmentToken: opts.enrollToken, requestId, publicKey: key.getPublicKey(), hello: opts.hello })),
  );
  const stored: StoredIdentity = {
    identity: { agentId: reply.agentId, tenantId: reply.tenantId, publicKey: key.getPublicKey(), enrolledAt: new Date().toISOString() },
    creds: { jwt: reply.jwt, seed: key.seedText() },
  };
  if (opts.save !== false) await saveIdentity(opts.dataDir, stored);
  opts.log.info({ agentId: reply.agentId, tenantId: reply.tenantId, credsExpireAt: new Date(reply.expiresAt).toISOString() }, "enrolled");
  return { ...stored, config: reply.config };
}

/**
 * A new JWT for an agent whose JWT expired (NATS refuses it, so the renewal cannot
 * go over NATS): prove possession of the seed to the control plane over HTTP(S).
 */
export async function renewExpiredCredentials(opts: { controlPlane: ControlPlaneEndpoint; agentId: string; key: NkeyPair; log: Logger; signal?: AbortSignal }): Promise<AgentJwt> {
  return withRetries(opts.log, opts.signal, "renewal", async () => {
    const issuedAt = Date.now();
    const signature = Buffer.from(opts.key.sign(new TextEncoder().encode(renewChallenge(opts.agentId, issuedAt)))).toString("base64url");
    const request = RenewRequestSchema.parse({ agentId: opts.agentId, issuedAt, signature });
    return AgentJwtSchema.parse(await postJson(opts.controlPlane, "v1/agents/renew", request));
  });
}

/** Retry `attempt` with backoff until it succeeds or the control plane refuses it. */
async function withRetries<T>(log: Logger, signal: AbortSignal | undefined, what: string, attempt: () => Promise<T>): Promise<T> {
  const backoff = new Backoff();
  for (;;) {
    signal?.throwIfAborted();
    try {
      return await attempt();
    } catch (error) {
      if (error instanceof ControlPlaneRefusal && error.code !== "UNAVAILABLE") throw new EnrollRefusedError(`${what} refused (${error.code}): ${error.message}`, error.code, { cause: error });
      const waitMs = backoff.next();
      log.warn({ err: (error as Error).message, retryInMs: waitMs }, `control plane did not answer the ${what} request; retrying`);
      await sleep(waitMs, signal);
    }
  }
}

