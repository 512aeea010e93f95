import type { JetStreamClient, JsMsg, NatsConnection } from "nats";
import { Backoff } from "@probepilot/shared";
import type { Logger } from "../logger.ts";
import { deadLetter } from "./dead-letter.ts";
import { pgError } from "../db/pg-error.ts";

/** A message's decoded value, or why it is poison (reason class before the first colon). */
export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: string };
export type Item<T> = { msg: JsMsg; value: T };
export type Rejected<T> = { item: Item<T>; reason: string };

export type BatchConsumerOptions<T> = {
  nc: NatsConnection;
  stream: string;
  /** Durable pull consumer shared by every process running this consumer. */
  consumer: string;
  /** Dead-letter subject family. */
  source: "status" | "telemetry";
  log: Logger;
  /** Most messages written at once. */
  batchSize: number;
  /** How long the first message of a batch waits for company before the batch is written. */
  lingerMs: number;
  /** Called as messages arrive (so decoding overlaps the write in flight). */
  decode: (msg: JsMsg) => Decoded<T>;
  /**
   * Write a batch; the messages are acked after it resolves. It may refuse some
   * items (returned with the reason): those are dead-lettered. Throwing leaves the
   * whole batch for redelivery.
   */
  write: (items: Item<T>[]) => Promise<Rejected<T>[] | void>;
  /**
   * An error caused by the data, not the database (Postgres SQLSTATE class 22):
   * the batch is retried one item at a time and only the refused ones are dead-lettered.
   */
  isDataError?: (err: unknown) => string | null;
  /** Called once per stream (re)subscription, e.g. to read the stream's creation time. */
  onSubscribe?: () => Promise<void>;
  onDeadLetter: (reason: string) => void;
  onWritten: (count: number, seconds: number) => void;
};

/**
 * Drains a JetStream stream through a shared durable pull consumer, micro-batched:
 * messages stream in continuously (`consume`), are decoded on arrival, and a batch
 * is written when it is full or `lingerMs` after its first message — so a lone
 * message lands within milliseconds and a flood is written in large batches.
 * Poison is dead-lettered with its reason; the rest is written, then acked, so a
 * crash before the ack means redelivery (writers must make that harmless).
 */
export class BatchConsumer<T> {
  private running = false;
  private loop: Promise<void> | null = null;
  private stopConsuming: (() => void) | null = null;
  private wakeUp: (() => void) | null = null;
  private buffer: Item<T>[] = [];
  private lingerTimer: NodeJS.Timeout | null = null;
  /** The write loop while it runs (batches are written one after another, in arrival order). */
  private draining: Promise<void> | null = null;
  private readonly js: JetStreamClient;

  constructor(private readonly o: BatchConsumerOptions<T>) {
    this.js = o.nc.jetstream();
  }

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
    const backoff = new Backoff(250, 10_000);
    while (this.running) {
      try {
        await this.o.onSubscribe?.();
        const consumer = await this.js.consumers.get(this.o.stream, this.o.consumer);
        // About two batches in flight from the server: enough to fill the next while one is written.
        const messages = await consumer.consume({ max_messages: this.o.batchSize * 2 });
        this.stopConsuming = () => messages.stop();
        if (!this.running) messages.stop();
        for await (const msg of messages) {
          const decoded = this.o.decode(msg);
          if (!decoded.ok) {
            await this.poison(msg, decoded.reason);
            continue;
          }
          this.buffer.push({ msg, value: decoded.value });
          if (this.buffer.length >= this.o.batchSize) await this.flush(); // backpressure: wait for the write
          else this.lingerTimer ??= setTimeout(() => void this.flush(), this.o.lingerMs);
          backoff.reset();
        }
      } catch (err) {
        if (!this.running) break;
        const waitMs = backoff.next();
        this.o.log.error({ err, retryInMs: waitMs }, `${this.o.source} consumer failed; retrying`);
        await this.pause(waitMs);
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

  /**
   * Write everything buffered, in batches of at most `batchSize`, one after another;
   * resolves when the buffer is empty. Messages that arrive while a batch is being
   * written join the next batch rather than queueing a write of their own: under load
   * the batches grow towards `batchSize` (each write has a fixed cost), instead of a
   * string of tiny batches, one per linger period, waiting in line.
   */
  private flush(): Promise<void> {
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.lingerTimer = null;
    // `.finally` runs in a later microtask, so `draining` is cleared only after it was set.
    if (!this.draining && this.buffer.length > 0) this.draining = this.drain().finally(() => (this.draining = null));
    return this.draining ?? Promise.resolve();
  }

  private async drain(): Promise<void> {
    while (this.buffer.length > 0) {
      const batch = this.buffer.splice(0, this.o.batchSize);
      try {
        await this.writeBatch(batch);
      } catch (err) {
        // Not acked: the server redelivers these after the ack wait.
        this.o.log.error({ err, messages: batch.length }, `${this.o.source} batch not written; it will be redelivered`);
      }
    }
  }

  private async writeBatch(batch: Item<T>[]): Promise<void> {
    const started = performance.now();
    const { written, rejected } = await this.writeSplittingOnDataErrors(batch);
    for (const r of rejected) await this.poison(r.item.msg, r.reason);
    for (const item of written) item.msg.ack();
    this.o.onWritten(written.length, (performance.now() - started) / 1000);
  }

  /**
   * A message that decodes but that the database refuses (a NUL in a string, a
   * number too big for its column) fails the whole batch, and would fail it again
   * on every redelivery with the valid messages beside it. So on a data error the
   * batch is retried one item at a time and only the refused ones are dead-lettered;
   * any other error (database down) is thrown.
   */
  private async writeSplittingOnDataErrors(batch: Item<T>[]): Promise<{ written: Item<T>[]; rejected: Rejected<T>[] }> {
    try {
      const rejected = (await this.o.write(batch)) ?? [];
      const refused = new Set(rejected.map((r) => r.item));
      return { written: batch.filter((i) => !refused.has(i)), rejected };
    } catch (err) {
      if (!this.o.isDataError?.(err)) throw err;
    }
    const written: Item<T>[] = [];
    const rejected: Rejected<T>[] = [];
    for (const item of batch) {
      try {
        const refused = (await this.o.write([item])) ?? [];
        if (refused.length > 0) rejected.push(...refused);
        else written.push(item);
      } catch (err) {
        const why = this.o.isDataError?.(err);
        if (!why) throw err;
        rejected.push({ item, reason: `db_rejected: ${why}` });
      }
    }
    return { written, rejected };
  }

  private async poison(msg: JsMsg, reason: string): Promise<void> {
    this.o.log.warn({ subject: msg.subject, reason }, `${this.o.source} message dead-lettered`);
    await deadLetter(this.js, this.o.source, msg, reason);
    // Counted once it is on the dead-letter stream (a failed publish comes back and is retried).
    this.o.onDeadLetter(reason);
  }
}

/** Postgres SQLSTATE class 22 ("data exception"): the data is at fault, not the database. Returns the message, or null. */
export function postgresDataError(err: unknown): string | null {
  const pg = pgError(err);
  return pg?.code.startsWith("22") ? pg.message : null;
}
