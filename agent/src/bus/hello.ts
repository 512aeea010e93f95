import { JSONCodec, type NatsConnection } from "nats";
import { HelloReplySchema, agentRpcSubject, type AgentConfig, type AgentHello } from "@probepilot/shared";
import type { Logger } from "../logger.ts";
import { EnrollRefusedError } from "../identity/enroll.ts";
import { Backoff, sleep } from "@probepilot/shared";

const json = JSONCodec<unknown>();

/**
 * Say hello to the control plane on the agent's authenticated connection: its
 * host facts go in (it is online from now), its central config comes back. The
 * subject names the agent and only this agent may publish there. Retries with
 * backoff (full jitter) while no control plane answers; a refusal is final.
 */
export async function sayHello(nc: NatsConnection, who: { tenantId: string; agentId: string }, hello: AgentHello, log: Logger, signal?: AbortSignal): Promise<AgentConfig> {
  const backoff = new Backoff();
  for (;;) {
    signal?.throwIfAborted();
    let raw: unknown;
    try {
      raw = json.decode((await nc.request(agentRpcSubject(who.tenantId, who.agentId, "hello"), json.encode(hello), { timeout: 5000 })).data);
    } catch (err) {
      const waitMs = backoff.next();
      log.warn({ err: (err as Error).message, retryInMs: waitMs }, "control plane did not answer the hello; retrying");
      await sleep(waitMs, signal);
      continue;
    }
    const reply = HelloReplySchema.parse(raw);
    if (reply.ok) return reply.config;
    if (reply.code === "UNAVAILABLE" || reply.code === "INTERNAL") {
      // The control plane's trouble (its database), not a verdict on us.
      const waitMs = backoff.next();
      log.warn({ code: reply.code, reason: reply.message, retryInMs: waitMs }, "control plane could not take the hello now; retrying");
      await sleep(waitMs, signal);
      continue;
    }
    throw new EnrollRefusedError(`hello refused (${reply.code}): ${reply.message}`, reply.code);
  }
}

