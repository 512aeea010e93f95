import { JSONCodec, type JetStreamClient, type JsMsg, type NatsConnection } from "nats";
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
          const good: Validated[] = [];
          for await (const msg of fetched) {
            const verdict = validate(msg);
            if (typeof verdict === "string") await this.poison(js, msg, verdict);
            else good.push({ msg, status: verdict });
          }
          if (good.length > 0) {
            const timer = this.metrics.statusBatchSeconds.startTimer();
            const applied = await this.apply(js, good);
            timer();
            for (const g of applied) g.msg.ack();
            this.metrics.statusMessages.inc({ outcome: "applied" }, applied.length);
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

  /**
   * Write a batch in one statement. A message that validates but that Postgres
   * refuses (a NUL in a string, a number too big for its column) fails the whole
   * statement, and would fail it again on every redelivery with the valid messages
   * fetched beside it. So on a data error retry one by one and dead-letter only the
   * ones refused; any other error (database down) is thrown to the retry loop.
   * Returns the messages written.
   */
  private async apply(js: JetStreamClient, good: Validated[]): Promise<Validated[]> {
    try {
      await applyStatusBatch(this.db, good.map((g) => g.status));
      return good;
    } catch (err) {
      if (!isDataError(err)) throw err;
    }
    const applied: Validated[] = [];
    for (const g of good) {
      try {
        await applyStatusBatch(this.db, [g.status]);
        applied.push(g);
      } catch (err) {
        if (!isDataError(err)) throw err;
        await this.poison(js, g.msg, `db_rejected: ${dataErrorMessage(err)}`);
      }
    }
    return applied;
  }

  private async poison(js: JetStreamClient, msg: JsMsg, reason: string): Promise<void> {
    this.log.warn({ subject: msg.subject, reason }, "status message dead-lettered");
    this.metrics.statusMessages.inc({ outcome: "dead_letter" });
    this.metrics.deadLetters.inc({ source: "status", reason: reason.split(":")[0] });
    await deadLetter(js, "status", msg, reason);
  }
}

type Validated = { msg: JsMsg; status: AgentStatusMessage };

/** Postgres SQLSTATE class 22 ("data exception"): the data is at fault, not the database. drizzle wraps the driver's error in `cause`. */
function isDataError(err: unknown): boolean {
  const code = (err as { cause?: { code?: unknown } })?.cause?.code ?? (err as { code?: unknown })?.code;
  return typeof code === "string" && code.startsWith("22");
}

function dataErrorMessage(err: unknown): string {
  const cause = (err as { cause?: unknown }).cause;
  return cause instanceof Error ? cause.message : err instanceof Error ? err.message : String(err);
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
