import { JSONCodec, type JsMsg, type NatsConnection } from "nats";
import { AgentStatusMessageSchema, STATUS_CONSUMER, STATUS_STREAM, STATUS_SUBJECT_PREFIX, describeZodError, type AgentStatusMessage } from "@probepilot/shared";
import type { Db } from "../db/client.ts";
import type { Logger } from "../logger.ts";
import type { ControlPlaneMetrics } from "../metrics.ts";
import { applyStatusBatch } from "../services/agents/apply-status-batch.ts";
import { deadLetter } from "./dead-letter.ts";

const json = JSONCodec<unknown>();

export type StatusConsumerOptions = { batchSize?: number; fetchExpiresMs?: number };

/**
 * Drains the status stream through the shared durable pull consumer: fetch a
 * batch, dead-letter what does not validate, write the rest in one statement,
 * then ack. A crash before the ack means redelivery, which the writer ignores
 * (older-than-applied messages are no-ops).
 */
export class StatusConsumer {
  private running = false;
  private loop: Promise<void> | null = null;

  constructor(
    private readonly nc: NatsConnection,
    private readonly db: Db,
    private readonly log: Logger,
    private readonly metrics: ControlPlaneMetrics,
    private readonly options: StatusConsumerOptions = {},
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Stop after the batch in flight is written and acked. */
  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  private async run(): Promise<void> {
    const js = this.nc.jetstream();
    let backoffMs = 250;
    while (this.running) {
      try {
        const consumer = await js.consumers.get(STATUS_STREAM, STATUS_CONSUMER);
        while (this.running) {
          const fetched = await consumer.fetch({ max_messages: this.options.batchSize ?? 1000, expires: this.options.fetchExpiresMs ?? 1000 });
          const good: { msg: JsMsg; status: AgentStatusMessage }[] = [];
          for await (const msg of fetched) {
            const verdict = validate(msg);
            if (typeof verdict === "string") {
              this.log.warn({ subject: msg.subject, reason: verdict }, "status message dead-lettered");
              this.metrics.statusMessages.inc({ outcome: "dead_letter" });
              this.metrics.deadLetters.inc({ source: "status", reason: verdict.split(":")[0] });
              await deadLetter(js, "status", msg, verdict);
            } else good.push({ msg, status: verdict });
          }
          if (good.length > 0) {
            const timer = this.metrics.statusBatchSeconds.startTimer();
            await applyStatusBatch(this.db, good.map((g) => g.status));
            timer();
            for (const g of good) g.msg.ack();
            this.metrics.statusMessages.inc({ outcome: "applied" }, good.length);
          }
          backoffMs = 250;
        }
      } catch (err) {
        if (!this.running) break;
        this.log.error({ err, retryInMs: backoffMs }, "status consumer failed; retrying");
        await new Promise((r) => setTimeout(r, backoffMs));
        backoffMs = Math.min(backoffMs * 2, 10_000);
      }
    }
  }
}

/** The parsed message, or the reason it is poison (reason class before the first colon). */
function validate(msg: JsMsg): AgentStatusMessage | string {
  let body: unknown;
  try {
    body = json.decode(msg.data);
  } catch {
    return "not_json: body is not valid JSON";
  }
  const parsed = AgentStatusMessageSchema.safeParse(body);
  if (!parsed.success) return `schema: ${describeZodError(parsed.error)}`;
  const [, , tenantId, agentId] = msg.subject.split(".");
  if (`${STATUS_SUBJECT_PREFIX}.${tenantId}.${agentId}` !== msg.subject || parsed.data.tenantId !== tenantId || parsed.data.agentId !== agentId) {
    return `subject_mismatch: message for ${parsed.data.tenantId}/${parsed.data.agentId} published on ${msg.subject}`;
  }
  return parsed.data;
}
