import { connect, type NatsConnection } from "nats";
import { agentInboxPrefix } from "@probepilot/shared";
import type { Logger } from "../logger.ts";
import type { AgentCredentials } from "../identity/agent-credentials.ts";
import { Backoff, sleep } from "@probepilot/shared";

export type AgentNatsOptions = {
  natsUrl: string;
  caFile?: string | null;
  name: string;
  credentials: AgentCredentials;
  log: Logger;
  signal?: AbortSignal;
  /** Between reconnect attempts once connected (nats.js adds its jitter); default 1 s. */
  reconnectTimeWaitMs?: number;
};

/**
 * Connect as this agent's own NATS user (its JWT and seed, its inbox prefix, TLS
 * with `caFile`) and stay connected: nats.js reconnects forever once a first
 * connection is made. Until then this loop retries itself, so that a refusal
 * is seen: when the server refuses the credentials, they are renewed over HTTP(S)
 * first (`AgentCredentials.recover`, which stops the agent if it was revoked);
 * when no server answers, it waits with backoff.
 */
export async function connectAgentNats(o: AgentNatsOptions): Promise<NatsConnection> {
  const backoff = new Backoff(250, 10_000);
  for (;;) {
    o.signal?.throwIfAborted();
    try {
      return await connect({
        servers: o.natsUrl.split(","),
        name: o.name,
        authenticator: o.credentials.authenticator(),
        // Replies come to this agent's own inbox prefix: the only one its user may subscribe to.
        inboxPrefix: agentInboxPrefix(o.credentials.agentId),
        ...(o.caFile ? { tls: { caFile: o.caFile } } : {}),
        maxReconnectAttempts: -1,
        reconnectTimeWait: o.reconnectTimeWaitMs ?? 1000,
      });
    } catch (err) {
      const code = (err as { code?: string }).code;
      const refused = code === "AUTHORIZATION_VIOLATION" || code === "AUTHENTICATION_EXPIRED";
      if (refused) await o.credentials.recover(String(code));
      const waitMs = backoff.next();
      o.log.warn({ err: (err as Error).message, code, retryInMs: waitMs }, refused ? "NATS refused this agent's credentials" : "cannot reach NATS yet; retrying");
      await sleep(waitMs, o.signal);
    }
  }
}
