import type { JetStreamClient, NatsConnection, StoredMsg } from "nats";
import { DEAD_LETTER_STREAM, statusSubject, type AgentStatusMessage, type ProbeStatus } from "@probepilot/shared";

type Heartbeat = Extract<AgentStatusMessage, { type: "heartbeat" | "status" }>;
type Goodbye = Extract<AgentStatusMessage, { type: "goodbye" }>;

/** A valid heartbeat for one agent; `overrides` replace whole fields. */
export function heartbeat(tenantId: string, agentId: string, overrides: Partial<Heartbeat> = {}): Heartbeat {
  return {
    type: "heartbeat",
    tenantId,
    agentId,
    instanceId: "test-instance",
    seq: 1,
    at: Date.now(),
    uptimeSec: 12.5,
    heartbeatIntervalSec: 10,
    labels: {},
    appliedPolicies: {},
    probes: [],
    conflicts: [],
    invalidPolicies: {},
    ...overrides,
  };
}

export function goodbye(tenantId: string, agentId: string, overrides: Partial<Goodbye> = {}): Goodbye {
  return { type: "goodbye", tenantId, agentId, instanceId: "test-instance", seq: 1, at: Date.now(), reason: "SIGTERM", ...overrides };
}

export function probe(overrides: Partial<ProbeStatus> = {}): ProbeStatus {
  return { kind: "host", version: "v1", state: "running", since: 1_700_000_000_000, ...overrides };
}

/**
 * Publish a status message with JetStream on the agent's status subject (or `subject`),
 * waiting for the stream's ack. A string or bytes body is sent as is (for poison messages).
 */
export async function publishStatus(js: JetStreamClient, message: AgentStatusMessage | string | Uint8Array | object, subject?: string): Promise<void> {
  const body = typeof message === "string" ? message : message instanceof Uint8Array ? message : JSON.stringify(message);
  const subj = subject ?? statusSubject((message as AgentStatusMessage).tenantId, (message as AgentStatusMessage).agentId);
  await js.publish(subj, body);
}

/** Every message currently on the dead-letter stream, oldest first. */
export async function readDeadLetters(nc: NatsConnection): Promise<StoredMsg[]> {
  const jsm = await nc.jetstreamManager();
  const info = await jsm.streams.info(DEAD_LETTER_STREAM);
  const out: StoredMsg[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    out.push(await jsm.streams.getMessage(DEAD_LETTER_STREAM, { seq }));
  }
  return out;
}
