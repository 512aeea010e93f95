import { JSONCodec, type JetStreamClient, type JsMsg, type NatsConnection } from "nats";
import { AgentStatusMessageSchema, STATUS_CONSUMER, STATUS_STREAM, STATUS_SUBJECT_PREFIX, describeZodError, type AgentStatusMessage } from "@probepilot/shared";
import type { Db } from "../db/client.ts";
import type { Logger } from "../logger.ts";
import type { ControlPlaneMetrics } from "../metrics.ts";
import { applyStatusBatch } from "../services/agents/apply-status-batch.ts";
import { deadLetter } from "./dead-letter.ts";

const json = JSONCodec<unknown>();

export type StatusConsumerOptions = {
  /** Most messages written in one statement. */
  batchSize?: number;
  /** How long the first message of a batch waits for company before the batch is written. */
  lingerMs?: number;
};

/**
 * Drains the status stream through the shared durable pull consumer. Messages
 * stream in continuously (`consume`) and are micro-batched: a batch is written
 * when it is full or `lingerMs` after its first message, so a lone status lands
 * in Postgres within milliseconds and a flood is written in large statements.
 * What does not validate is dead-lettered; the rest is written in one statement
 * and acked after commit. A crash before the ack means redelivery, which the
 * writer ignores: it orders by stream position (see `applyStatusBatch`).
 */
export class StatusConsumer {
  private running = false;
  private loop: Promise<void> | null = null;
  private stopConsuming: (() => void) | null = null;
  private wakeUp: (() => void) | null = null;
  private buffer: JsMsg[] = [];
  /** Creation time of the status stream: with a message's stream sequence, its position. */
  private streamEpoch = "";
  private lingerTimer: NodeJS.Timeout | null = null;
  /** Batches are written one after another, in arrival order. */
  private writing: Promise<void> = Promise.resolve();

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

  /** Stop taking messages, then write and ack what was already received. */
  async stop(): Promise<void> {
    this.running = false;
    this.stopConsuming?.();
    this.wakeUp?.();
    await this.loop;
    await this.flush();
  }

  private async run(): Promise<void> {
    const js = this.nc.jetstream();
    const batchSize = this.options.batchSize ?? 1000;
    let backoffMs = 250;
    while (this.running) {
      try {
        // Stream positions are only comparable within one incarnation of the stream.
        this.streamEpoch = (await this.nc.jetstreamManager().then((jsm) => jsm.streams.info(STATUS_STREAM))).created;
        const consumer = await js.consumers.get(STATUS_STREAM, STATUS_CONSUMER);
        // Keep about two batches in flight from the server: enough to fill the next while one is written.
        const messages = await consumer.consume({ max_messages: batchSize * 2 });
        this.stopConsuming = () => messages.stop();
        if (!this.running) messages.stop();
        for await (const msg of messages) {
          this.buffer.push(msg);
          if (this.buffer.length >= batchSize) await this.flush(); // backpressure: wait for the write
          else this.lingerTimer ??= setTimeout(() => void this.flush(), this.options.lingerMs ?? 20);
          backoffMs = 250;
        }
      } catch (err) {
        if (!this.running) break;
        this.log.error({ err, retryInMs: backoffMs }, "status consumer failed; retrying");
        await this.pause(backoffMs);
        backoffMs = Math.min(backoffMs * 2, 10_000);
      }
    }
  }

  /** Sleep between retries; `stop()` cuts it short. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wakeUp = () => (clearTimeout(timer), resolve());
    });
  }

  /** Queue a write of everything buffered so far; resolves when it (and any before it) is done. */
  private flush(): Promise<void> {
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.lingerTimer = null;
    const batch = this.buffer;
    this.buffer = [];
    if (batch.length === 0) return this.writing;
    this.writing = this.writing.then(() => this.write(batch)).catch((err) => {
      // Not acked: the server redelivers these after the ack wait.
      this.log.error({ err, messages: batch.length }, "status batch not written; it will be redelivered");
    });
    return this.writing;
  }

  private async write(batch: JsMsg[]): Promise<void> {
    const js = this.nc.jetstream();
    const good: Validated[] = [];
    for (const msg of batch) {
      const verdict = validate(msg);
      if (typeof verdict === "string") await this.poison(js, msg, verdict);
      else good.push({ msg, status: verdict });
    }
    if (good.length === 0) return;
    const timer = this.metrics.statusBatchSeconds.startTimer();
    const applied = await this.apply(js, good);
    timer();
    for (const g of applied) g.msg.ack();
    this.metrics.statusMessages.inc({ outcome: "applied" }, applied.length);
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
      await applyStatusBatch(this.db, this.streamEpoch, good.map((g) => ({ status: g.status, streamSeq: g.msg.seq })));
      return good;
    } catch (err) {
      if (!isDataError(err)) throw err;
    }
    const applied: Validated[] = [];
    for (const g of good) {
      try {
        await applyStatusBatch(this.db, this.streamEpoch, [{ status: g.status, streamSeq: g.msg.seq }]);
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
    await deadLetter(js, "status", msg, reason);
    // Counted once it is on the dead-letter stream (a failed publish comes back and is retried).
    this.metrics.statusMessages.inc({ outcome: "dead_letter" });
    this.metrics.deadLetters.inc({ source: "status", reason: reason.split(":")[0] });
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
