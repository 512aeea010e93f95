import { JSONCodec, type JsMsg, type NatsConnection } from "nats";
import { AgentStatusMessageSchema, STATUS_CONSUMER, STATUS_STREAM, STATUS_SUBJECT_PREFIX, describeZodError, type AgentStatusMessage } from "@probepilot/shared";
import type { Db } from "../db/client.ts";
import type { Logger } from "../logger.ts";
import type { ControlPlaneMetrics } from "../metrics.ts";
import { applyStatusBatch } from "../services/agents/apply-status-batch.ts";
import { notifyAgentStatus } from "../services/rollouts/rollout-signals.ts";
import { BatchConsumer, postgresDataError, type Decoded } from "./batch-consumer.ts";

const json = JSONCodec<unknown>();

/**
 * Drains the status stream into the agent registry: micro-batched (see
 * BatchConsumer), each batch written in one statement. Redelivery is harmless:
 * the writer orders by stream position (see `applyStatusBatch`).
 */
export function createStatusConsumer(nc: NatsConnection, db: Db, log: Logger, metrics: ControlPlaneMetrics, opts: { batchSize?: number; lingerMs?: number } = {}) {
  /** Creation time of the status stream: with a message's stream sequence, its position. */
  let streamEpoch = "";
  return new BatchConsumer<AgentStatusMessage>({
    nc,
    stream: STATUS_STREAM,
    consumer: STATUS_CONSUMER,
    source: "status",
    log,
    batchSize: opts.batchSize ?? 1000,
    lingerMs: opts.lingerMs ?? 20,
    decode: decodeStatus,
    write: async (items) => {
      const updated = await applyStatusBatch(db, streamEpoch, items.map((i) => ({ status: i.value, streamSeq: i.msg.seq })));
      // The rollout engine (on whichever control plane leads) evaluates gates on what agents report.
      if (updated > 0) await notifyAgentStatus(db);
    },
    isDataError: postgresDataError,
    onSubscribe: async () => {
      // Stream positions are only comparable within one incarnation of the stream.
      streamEpoch = (await (await nc.jetstreamManager()).streams.info(STATUS_STREAM)).created;
    },
    onDeadLetter: (reason) => {
      metrics.statusMessages.inc({ outcome: "dead_letter" });
      metrics.deadLetters.inc({ source: "status", reason: reason.split(":")[0] });
    },
    onWritten: (count, seconds) => {
      metrics.statusBatchSeconds.observe(seconds);
      metrics.statusMessages.inc({ outcome: "applied" }, count);
    },
  });
}

function decodeStatus(msg: JsMsg): Decoded<AgentStatusMessage> {
  let body: unknown;
  try {
    body = json.decode(msg.data);
  } catch {
    return { ok: false, reason: "not_json: body is not valid JSON" };
  }
  const parsed = AgentStatusMessageSchema.safeParse(body);
  if (!parsed.success) return { ok: false, reason: `schema: ${describeZodError(parsed.error)}` };
  const [, , tenantId, agentId] = msg.subject.split(".");
  if (`${STATUS_SUBJECT_PREFIX}.${tenantId}.${agentId}` !== msg.subject || parsed.data.tenantId !== tenantId || parsed.data.agentId !== agentId) {
    return { ok: false, reason: `subject_mismatch: message for ${parsed.data.tenantId}/${parsed.data.agentId} published on ${msg.subject}` };
  }
  return { ok: true, value: parsed.data };
}
