import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AckPolicy, type NatsConnection } from "nats";
import { BatchConsumer, type Item } from "../../src/nats/batch-consumer.ts";
import { createLogger } from "../../src/logger.ts";
import { startTestMesh } from "@probepilot/testkit/nats-server";
import { eventually, sleep } from "@probepilot/testkit/poll";

/**
 * The micro-batching of BatchConsumer on a real JetStream stream (the writer is a
 * function that records what it was given: what is under test is how messages
 * are grouped into writes, not where they go).
 */
let mesh: Awaited<ReturnType<typeof startTestMesh>>;
let nc: NatsConnection;

beforeAll(async () => {
  mesh = await startTestMesh();
  nc = mesh.platform;
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({ name: "BATCH_TEST", subjects: ["batch.test.>"] });
  await jsm.consumers.add("BATCH_TEST", { durable_name: "writer", ack_policy: AckPolicy.Explicit });
});
afterAll(async () => {
  await mesh?.stop();
});

function recordingConsumer(opts: { batchSize: number; lingerMs: number; writeMs: number }) {
  const batches: number[][] = [];
  const consumer = new BatchConsumer<number>({
    nc,
    stream: "BATCH_TEST",
    consumer: "writer",
    source: "status",
    log: createLogger("silent"),
    batchSize: opts.batchSize,
    lingerMs: opts.lingerMs,
    decode: (msg) => ({ ok: true, value: Number(new TextDecoder().decode(msg.data)) }),
    write: async (items: Item<number>[]) => {
      batches.push(items.map((i) => i.value));
      await sleep(opts.writeMs); // a write has a fixed cost, as a Postgres statement does
    },
    onDeadLetter: () => {},
    onWritten: () => {},
  });
  consumer.start();
  return { batches, consumer };
}

describe("BatchConsumer", () => {
  it("keeps writing after a linger timer fires on a buffer a running write already emptied", async () => {
    // A is flushed at 300 ms and written until 400 ms; B arrives during that write, so the
    // write loop takes it (400–500 ms) before B's own linger timer fires (≈630 ms) on an
    // empty buffer. A write loop that ended at that point once stopped every later write.
    const { batches, consumer } = recordingConsumer({ batchSize: 100, lingerMs: 300, writeMs: 100 });
    try {
      const js = nc.jetstream();
      await js.publish("batch.test.a", "1000");
      await sleep(330);
      await js.publish("batch.test.a", "1001");
      await sleep(600);
      await js.publish("batch.test.a", "1002");
      await eventually(() => expect(batches.flat()).toEqual([1000, 1001, 1002]), { timeoutMs: 3000 });
    } finally {
      await consumer.stop();
    }
  });

  it("groups messages that arrive during a slow write into the next batch, and keeps writing after a full batch drained the buffer", async () => {
    const { batches, consumer } = recordingConsumer({ batchSize: 20, lingerMs: 5, writeMs: 30 });
    try {
      const js = nc.jetstream();
      await Promise.all(Array.from({ length: 300 }, (_, i) => js.publish("batch.test.a", String(i))));
      await eventually(() => expect(batches.flat()).toHaveLength(300), { timeoutMs: 20_000 });
      // In order, each message once, and in batches that grew to the cap instead of one per linger period.
      expect(batches.flat()).toEqual(Array.from({ length: 300 }, (_, i) => i));
      expect(Math.max(...batches.map((b) => b.length))).toBe(20);
      expect(batches.length).toBeLessThanOrEqual(300 / 20 + 5);

      // After full batches emptied the buffer, a lone message is still written (within its linger).
      await sleep(200);
      await js.publish("batch.test.a", "300");
      await eventually(() => expect(batches.flat().at(-1)).toBe(300), { timeoutMs: 3000 });
    } finally {
      await consumer.stop();
    }
  });
});
