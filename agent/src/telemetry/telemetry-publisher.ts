import path from "node:path";
import type { JetStreamClient, NatsError } from "nats";
import { Backoff, MAX_TELEMETRY_BATCH_BYTES, TELEMETRY_ENVELOPE_VERSION, telemetrySubject, type TelemetryBatch } from "@probepilot/shared";
import type { TelemetryContent } from "./telemetry-content.ts";
import { splitToFit } from "./split-content.ts";
import type { Logger } from "../logger.ts";
import type { AgentMetrics } from "../metrics.ts";
import { SequenceStore } from "./sequence-store.ts";
import { Spool, type SpoolEntry, type SpoolRecord } from "./spool.ts";

const encoder = new TextEncoder();

/** How long a publish waits for its JetStream ack before the batch is spooled (or, when draining, retried). */
export const DEFAULT_PUBLISH_TIMEOUT_MS = 5000;
const MIN_RETRY_MS = 250;
const MAX_RETRY_MS = 5000;
/** A record the server refuses this many times in a row for a non-transient reason is dropped (and counted), not retried forever. */
const MAX_REFUSALS = 5;

/** What the publisher reports about the telemetry it could not send yet or lost. */
export type TelemetryStats = {
  /** Batches in the disk spool, waiting to be replayed. */
  spooledBatches: number;
  /** Their size on disk. */
  spooledBytes: number;
  /** Batches lost since this process started: dropped from a full spool, unwritable, or refused for good by the server (oversize batches are counted apart, as `outcome="oversize"`). */
  droppedBatches: number;
  droppedBytes: number;
  /** Batches published from the spool since this process started. */
  replayedBatches: number;
};

export type TelemetryPublisherOptions = {
  js: JetStreamClient;
  tenantId: string;
  agentId: string;
  sequences: SequenceStore;
  spool: Spool;
  log: Logger;
  metrics: AgentMetrics;
  publishTimeoutMs?: number;
};

/**
 * Open the sequence store (`<dataDir>/telemetry/seq`) and the spool
 * (`<dataDir>/spool`) of an agent and start a publisher on them.
 */
export async function openTelemetryPublisher(opts: Omit<TelemetryPublisherOptions, "sequences" | "spool"> & { dataDir: string; spoolMaxBytes?: number }): Promise<TelemetryPublisher> {
  const { dataDir, spoolMaxBytes, ...rest } = opts;
  const sequences = await SequenceStore.open(path.join(dataDir, "telemetry", "seq"));
  const spool = await Spool.open({ dir: path.join(dataDir, "spool"), log: opts.log, ...(spoolMaxBytes !== undefined ? { maxBytes: spoolMaxBytes } : {}) });
  const publisher = new TelemetryPublisher({ ...rest, sequences, spool });
  publisher.start();
  return publisher;
}

/**
 * Wraps probe output in the versioned batch envelope and gets it to the
 * telemetry stream, in order, without losing it while NATS is away.
 *
 * - `seq` comes from the `SequenceStore`: monotonic per (agent, probe) across
 *   restarts, so the msgID `<agent>.<probe>.<seq>` is stable and JetStream
 *   deduplicates a batch published twice (a lost ack, a replay after a crash)
 *   within its duplicate window; the ingester's ledger covers the rest.
 * - Batches are handled one at a time in the order the probes emit them. One is
 *   published directly (with an ack) only when the spool is empty and NATS is
 *   connected; otherwise, or when the publish or its ack fails, it is appended
 *   to the spool, and from then on every new batch goes behind it.
 * - A drainer replays the spool in order whenever NATS is connected: publish,
 *   wait for the ack, and only then advance the spool's cursor; on failure it
 *   backs off (250 ms doubling to 5 s), and a reconnect wakes it at once.
 */
export class TelemetryPublisher {
  private readonly js: JetStreamClient;
  private readonly sequences: SequenceStore;
  private readonly spool: Spool;
  private readonly log: Logger;
  private readonly metrics: AgentMetrics;
  private readonly publishTimeoutMs: number;
  /** Batches in emission order: each is published, spooled or dropped before the next one starts. */
  private lane: Promise<void> = Promise.resolve();
  private connected = true;
  private stopped = false;
  private drainer: Promise<void> | null = null;
  private wakeDrainer: (() => void) | null = null;
  /** Between failed replays (full jitter: a fleet back from an outage does not replay in lockstep). */
  private readonly retry = new Backoff(MIN_RETRY_MS, MAX_RETRY_MS);
  /** Losses outside the spool's own accounting (no sequence number, spool closed). */
  private lost = { batches: 0, bytes: 0 };
  private replayed = 0;
  /** What `syncMetrics` last reported, so counters get increments. */
  private reported = { droppedBatches: 0, droppedBytes: 0 };

  constructor(private readonly opts: TelemetryPublisherOptions) {
    this.js = opts.js;
    this.sequences = opts.sequences;
    this.spool = opts.spool;
    this.log = opts.log;
    this.metrics = opts.metrics;
    this.publishTimeoutMs = opts.publishTimeoutMs ?? DEFAULT_PUBLISH_TIMEOUT_MS;
  }

  /** Start the drainer (it replays whatever an earlier run left in the spool first). */
  start(): void {
    if (this.drainer || this.stopped) return;
    this.syncMetrics();
    this.drainer = this.drain();
  }

  /**
   * Tell the publisher whether NATS is connected (from the connection's status
   * events). While disconnected every batch goes straight to the spool instead
   * of waiting for an ack that cannot come; a reconnect starts the drain at once.
   */
  setConnected(connected: boolean): void {
    if (connected === this.connected) return;
    this.connected = connected;
    if (connected) {
      this.retry.reset();
      this.wake();
    } else {
      this.log.warn({ spooledBatches: this.spool.stats().pendingBatches }, "NATS disconnected: spooling telemetry to disk");
    }
  }

  /**
   * Number, encode and send (or spool) one interval's output: one batch, or
   * several when it would not fit in one. Resolves once every batch is
   * published, spooled or dropped; never rejects.
   */
  publish(probe: string, probeVersion: string, content: TelemetryContent): Promise<void> {
    const run = this.lane.then(async () => {
      for (const piece of splitToFit(content, MAX_TELEMETRY_BATCH_BYTES)) await this.handle(probe, probeVersion, piece);
    });
    this.lane = run.catch((err) => this.log.error({ probe, err }, "telemetry batch handling failed"));
    return this.lane;
  }

  stats(): TelemetryStats {
    const s = this.spool.stats();
    return {
      spooledBatches: s.pendingBatches,
      spooledBytes: s.pendingBytes,
      droppedBatches: s.droppedBatches + this.lost.batches,
      droppedBytes: s.droppedBytes + this.lost.bytes,
      replayedBatches: this.replayed,
    };
  }

  /**
   * Finish the batches already emitted (published, or spooled if that fails),
   * stop the drainer after its in-flight publish, then persist the spool's cursor
   * and close its files. What is still spooled is replayed by the next start.
   * Stop the probes first: batches emitted after `close()` began are dropped.
   */
  async close(): Promise<void> {
    await this.lane;
    this.stopped = true;
    this.wake();
    await this.drainer;
    await this.spool.close().catch((err) => this.log.error({ err }, "closing the telemetry spool failed"));
    this.syncMetrics();
  }

  private async handle(probe: string, probeVersion: string, content: TelemetryContent): Promise<void> {
    if (this.stopped) {
      this.lose(probe, 0, "telemetry batch emitted after the publisher closed: dropped");
      return;
    }
    let seq: number;
    try {
      seq = await this.sequences.next(probe);
    } catch (err) {
      this.lose(probe, 0, `telemetry batch without a sequence number: dropped (${(err as Error).message})`);
      return;
    }
    const batch: TelemetryBatch = {
      v: TELEMETRY_ENVELOPE_VERSION,
      tenantId: this.opts.tenantId,
      agentId: this.opts.agentId,
      probe,
      probeVersion,
      seq,
      sentAt: Date.now(),
      series: content.series ?? [],
      histograms: content.histograms ?? [],
      events: content.events ?? [],
      profiles: content.profiles ?? [],
    };
    const data = encoder.encode(JSON.stringify(batch));
    if (data.byteLength > MAX_TELEMETRY_BATCH_BYTES) {
      this.metrics.telemetryBatches.inc({ probe, outcome: "oversize" });
      this.log.error({ probe, seq, bytes: data.byteLength }, "telemetry batch over the size limit: dropped");
      return;
    }
    const record: SpoolRecord = { subject: telemetrySubject(this.opts.tenantId, this.opts.agentId, probe), msgId: `${this.opts.agentId}.${probe}.${seq}`, payload: data };
    // Straight to NATS only when nothing is waiting in the spool: anything newer must go behind what is there.
    if (this.connected && this.spool.isEmpty) {
      try {
        await this.js.publish(record.subject, record.payload, { msgID: record.msgId, timeout: this.publishTimeoutMs });
        this.metrics.telemetryBatches.inc({ probe, outcome: "published" });
        this.metrics.telemetryBytes.inc({ probe }, data.byteLength);
        return;
      } catch (err) {
        // The batch may have been stored with only its ack lost: replaying it is harmless (same msgID).
        this.log.warn({ probe, seq, err: (err as Error).message }, "telemetry publish failed: spooling to disk");
      }
    }
    let stored = false;
    try {
      stored = await this.spool.append(record);
    } catch (err) {
      this.lose(probe, data.byteLength, `telemetry batch could not be spooled: dropped (${(err as Error).message})`);
      return;
    }
    this.metrics.telemetryBatches.inc({ probe, outcome: stored ? "spooled" : "dropped" });
    this.syncMetrics();
    if (stored) this.wake();
  }

  /** A batch lost before reaching the spool: count it where the spool's drops are counted. */
  private lose(probe: string, bytes: number, message: string): void {
    this.lost.batches += 1;
    this.lost.bytes += bytes;
    this.metrics.telemetryBatches.inc({ probe, outcome: "dropped" });
    this.log.error({ probe }, message);
    this.syncMetrics();
  }

  /** Replays the spool in order while connected; sleeps until woken otherwise. */
  private async drain(): Promise<void> {
    let refusals = 0;
    let failing = false;
    let replayedThisRound = 0;
    while (!this.stopped) {
      if (!this.connected || this.spool.isEmpty) {
        if (replayedThisRound > 0) {
          const { spooledBatches, droppedBatches } = this.stats();
          this.log.info({ replayedBatches: replayedThisRound, spooledBatches, droppedBatches }, spooledBatches === 0 ? "telemetry spool drained" : "telemetry replay paused: NATS disconnected");
        }
        replayedThisRound = 0;
        await this.sleep();
        continue;
      }
      let entry: SpoolEntry | null;
      try {
        entry = await this.spool.peek();
      } catch (err) {
        if (this.stopped) break;
        this.log.error({ err: (err as Error).message }, "reading the telemetry spool failed");
        await this.sleep(this.retry.next());
        continue;
      }
      this.syncMetrics(); // peek may have skipped corrupt data
      if (!entry) continue;
      try {
        await this.js.publish(entry.subject, entry.payload, { msgID: entry.msgId, timeout: this.publishTimeoutMs });
      } catch (err) {
        if (this.stopped) break;
        if (isRefusal(err) && ++refusals >= MAX_REFUSALS) {
          this.log.error({ subject: entry.subject, msgId: entry.msgId, err: (err as Error).message }, "the server keeps refusing a spooled telemetry batch: dropped");
          refusals = 0;
          await this.spool.discard(entry).catch((e) => this.log.error({ err: (e as Error).message }, "telemetry spool discard failed"));
          this.syncMetrics();
          continue;
        }
        // Log the first failure of a series; the rest are the same story.
        const waitMs = this.retry.next();
        this.log[failing ? "debug" : "warn"]({ msgId: entry.msgId, err: (err as Error).message, retryInMs: waitMs }, "replaying spooled telemetry failed: retrying");
        failing = true;
        await this.sleep(waitMs);
        continue;
      }
      failing = false;
      refusals = 0;
      this.retry.reset();
      this.replayed += 1;
      replayedThisRound += 1;
      const probe = entry.subject.slice(entry.subject.lastIndexOf(".") + 1);
      this.metrics.telemetryBatches.inc({ probe, outcome: "replayed" });
      this.metrics.telemetryBytes.inc({ probe }, entry.payload.byteLength);
      this.metrics.spoolReplayedBatches.inc();
      try {
        await this.spool.ack(entry);
      } catch (err) {
        // The cursor moved in memory; only its persistence failed (retried with the next ack).
        this.log.error({ err: (err as Error).message }, "persisting the telemetry spool cursor failed");
      }
      this.syncMetrics();
    }
  }

  /** Wait for `wake()` or, with `ms`, at most that long. */
  private sleep(ms?: number): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | null = null;
      const done = () => {
        if (timer) clearTimeout(timer);
        if (this.wakeDrainer === done) this.wakeDrainer = null;
        resolve();
      };
      if (ms !== undefined) timer = setTimeout(done, ms);
      this.wakeDrainer = done;
    });
  }

  private wake(): void {
    this.wakeDrainer?.();
  }

  private syncMetrics(): void {
    const s = this.stats();
    this.metrics.spoolBatches.set(s.spooledBatches);
    this.metrics.spoolBytes.set(s.spooledBytes);
    if (s.droppedBatches > this.reported.droppedBatches) this.metrics.spoolDroppedBatches.inc(s.droppedBatches - this.reported.droppedBatches);
    if (s.droppedBytes > this.reported.droppedBytes) this.metrics.spoolDroppedBytes.inc(s.droppedBytes - this.reported.droppedBytes);
    this.reported = { droppedBatches: s.droppedBatches, droppedBytes: s.droppedBytes };
  }
}

/**
 * The server (or the client library, before sending) rejected the message
 * itself, as opposed to a timeout, a missing stream or a lost connection, which
 * pass: retrying the same bytes will not help.
 */
function isRefusal(err: unknown): boolean {
  const e = err as Partial<NatsError>;
  if (typeof e.isPermissionError === "function" && e.isPermissionError()) return true;
  if (typeof e.jsError === "function" && e.jsError() !== null) return true;
  return e.code === "MAX_PAYLOAD_EXCEEDED";
}
