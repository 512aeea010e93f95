import { JSONCodec, type Msg, type NatsConnection, type Subscription } from "nats";
import { AGENT_RPC_QUEUE, AGENT_RPC_SUBJECTS_ALL, AgentHelloSchema, ID_PATTERN, describeZodError, type HelloReply, type RenewReply } from "@probepilot/shared";
import type { Db } from "../db/client.ts";
import type { Logger } from "../logger.ts";
import type { ControlPlaneMetrics } from "../metrics.ts";
import type { AgentCredentialIssuer } from "../services/agents/agent-credential-issuer.ts";
import { greetAgent } from "../services/agents/greet-agent.ts";
import { renewAgentCredentials } from "../services/agents/renew-agent-credentials.ts";
import { ServiceError } from "../services/errors.ts";

const json = JSONCodec<unknown>();

/**
 * Answers agents' requests on their authenticated connections: `hello` (facts in,
 * central config out) and `renew` (a fresh JWT). The subject `pp.rpc.<tenant>.<agent>.<verb>`
 * says who asks: the tenant's account imports only its own tenant's subjects and
 * the agent's user may publish only its own, so the NATS server has checked it.
 * A queue group spreads requests over every control plane. Every request gets a
 * reply: the result, or a code and a message.
 */
export function startAgentRpcResponder(nc: NatsConnection, db: Db, issuer: AgentCredentialIssuer, log: Logger, metrics: ControlPlaneMetrics): Subscription {
  return nc.subscribe(AGENT_RPC_SUBJECTS_ALL, {
    queue: AGENT_RPC_QUEUE,
    callback: (err, msg) => {
      if (err) return log.error({ err }, "agent request subscription failed");
      void answer(msg, db, issuer, log, metrics);
    },
  });
}

async function answer(msg: Msg, db: Db, issuer: AgentCredentialIssuer, log: Logger, metrics: ControlPlaneMetrics): Promise<void> {
  const [, , tenantId = "", agentId = "", verb = ""] = msg.subject.split(".");
  let reply: HelloReply | RenewReply;
  try {
    if (!ID_PATTERN.test(tenantId) || !ID_PATTERN.test(agentId)) throw new ServiceError("INVALID", `malformed agent request subject "${msg.subject.slice(0, 120)}"`);
    const who = { tenantId, agentId };
    if (verb === "hello") {
      const hello = AgentHelloSchema.safeParse(safeJson(msg.data));
      if (!hello.success) throw new ServiceError("INVALID", `malformed hello: ${describeZodError(hello.error)}`);
      reply = { ok: true, config: await greetAgent(db, who, hello.data) };
    } else if (verb === "renew") {
      reply = { ok: true, ...(await renewAgentCredentials(db, issuer, who)) };
    } else throw new ServiceError("INVALID", `unknown agent request "${verb.slice(0, 40)}"; expected hello or renew`);
    metrics.agentRequests.inc({ verb, outcome: "ok" });
    log.debug({ tenantId, agentId, verb }, "agent request answered");
  } catch (error) {
    const code = error instanceof ServiceError ? error.code : "INTERNAL";
    const message = error instanceof ServiceError ? error.message : "internal error while answering the agent; see the control-plane log";
    if (code === "INTERNAL") log.error({ err: error, tenantId, agentId, verb }, "agent request failed");
    else log.warn({ code, message, tenantId, agentId, verb }, "agent request refused");
    metrics.agentRequests.inc({ verb: ["hello", "renew"].includes(verb) ? verb : "other", outcome: code.toLowerCase() });
    reply = { ok: false, code, message };
  }
  if (msg.reply) msg.respond(json.encode(reply));
}

function safeJson(data: Uint8Array): unknown {
  try {
    return json.decode(data);
  } catch {
    return undefined;
  }
}
