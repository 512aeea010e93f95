import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { appendFile, mkdtemp, readFile, readdir, rm, stat, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { Spool, type SpoolOptions, type SpoolRecord } from "../../src/telemetry/spool.ts";

let dir: string;
let logLines: { level: number; msg: string; [k: string]: unknown }[];
const open: Spool[] = [];

beforeEach(async () => {
  dir = path.join(await mkdtemp(path.join(tmpdir(), "pp-spool-")), "spool");
  logLines = [];
});
afterEach(async () => {
  for (const s of open.splice(0)) await s.close().catch(() => {});
  await rm(path.dirname(dir), { recursive: true, force: true });
});

const log = () => pino({ level: "debug" }, { write: (line: string) => void logLines.push(JSON.parse(line)) });

async function openSpool(opts: Partial<SpoolOptions> = {}): Promise<Spool> {
  const s = await Spool.open({ dir, log: log(), ...opts });
  open.push(s);
  return s;
}

/** Close as a clean shutdown would, and forget it (so teardown does not close it twice). */
async function closeSpool(s: Spool): Promise<void> {
  open.splice(open.indexOf(s), 1);
  await s.close();
}

/**
 * A record of exactly 100 bytes on disk: 8 header + 2 + subject (1) + 2 + msgId (4) + payload (83).
 * Its payload spells its number, so order is easy to check.
 */
function rec(i: number): SpoolRecord {
  const payload = Buffer.alloc(83, 0x2e);
  payload.write(`batch-${i}`);
  return { subject: "s", msgId: `m-${String(i).padStart(2, "0")}`, payload };
}
const numberOf = (payload: Uint8Array) => Number(/batch-(\d+)/.exec(Buffer.from(payload).toString())![1]);

/** Read and ack everything, returning the record numbers in order. */
async function drainAll(s: Spool): Promise<number[]> {
  const out: number[] = [];
  for (;;) {
    const e = await s.peek();
    if (!e) return out;
    out.push(numberOf(e.payload));
    await s.ack(e);
  }
}

const segmentFiles = async () => (await readdir(dir)).filter((n) => n.endsWith(".seg")).sort();

describe("Spool", () => {
  it("starts empty", async () => {
    const s = await openSpool();
    expect(await s.peek()).toBeNull();
    expect(s.isEmpty).toBe(true);
    expect(s.stats()).toEqual({ pendingBatches: 0, pendingBytes: 0, droppedBatches: 0, droppedBytes: 0, diskBytes: 0, segments: 0 });
  });

  it("replays records exactly as appended, in order, across segment rotations, and deletes segments once read", async () => {
    const s = await openSpool({ segmentBytes: 300, maxBytes: 10_000 });
    for (let i = 1; i <= 20; i++) expect(await s.append(rec(i))).toBe(true);
    expect(s.stats()).toMatchObject({ pendingBatches: 20, pendingBytes: 2000, diskBytes: 2000, segments: 7, droppedBatches: 0 });
    expect(await segmentFiles()).toHaveLength(7); // 3 records of 100 bytes per 300-byte segment

    const first = (await s.peek())!;
    expect(first).toMatchObject({ subject: "s", msgId: "m-01", size: 100 });
    expect(Buffer.from(first.payload)).toEqual(Buffer.from(rec(1).payload));
    expect((await s.peek())!.msgId).toBe("m-01"); // peek without ack returns the same record

    expect(await drainAll(s)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(s.isEmpty).toBe(true);
    expect(s.stats()).toMatchObject({ pendingBatches: 0, pendingBytes: 0 });
    expect(await segmentFiles()).toHaveLength(1); // only the segment being written remains
  });

  it("keeps order when appends and reads interleave", async () => {
    const s = await openSpool({ segmentBytes: 250, maxBytes: 10_000 });
    const seen: number[] = [];
    let next = 1;
    for (let round = 0; round < 10; round++) {
      for (let k = 0; k < (round % 3) + 1; k++) await s.append(rec(next++));
      const e = await s.peek();
      if (e) {
        seen.push(numberOf(e.payload));
        await s.ack(e);
      }
    }
    seen.push(...(await drainAll(s)));
    expect(seen).toEqual(Array.from({ length: next - 1 }, (_, i) => i + 1));
  });

  it("persists the read cursor and resumes there after a restart; new records go behind the old ones", async () => {
    const s = await openSpool({ segmentBytes: 300, maxBytes: 10_000 });
    for (let i = 1; i <= 10; i++) await s.append(rec(i));
    for (let i = 0; i < 4; i++) await s.ack((await s.peek())!);
    await closeSpool(s);
    // Records 1-3 filled the first segment, which was deleted once read; record 4 was the first of the second.
    expect(JSON.parse(await readFile(path.join(dir, "cursor.json"), "utf8"))).toEqual({ segment: 2, offset: 100 });

    const again = await openSpool({ segmentBytes: 300, maxBytes: 10_000 });
    expect(again.stats()).toMatchObject({ pendingBatches: 6, pendingBytes: 600 });
    await again.append(rec(11));
    expect(await drainAll(again)).toEqual([5, 6, 7, 8, 9, 10, 11]);
  });

  it("after a crash (no close) resumes at the last persisted cursor: acked records may come again, unacked ones are never skipped", async () => {
    const s = await openSpool({ segmentBytes: 10_000, maxBytes: 100_000, cursorSyncMs: 60_000 });
    for (let i = 1; i <= 6; i++) await s.append(rec(i));
    await s.ack((await s.peek())!); // the first ack writes the cursor (none yet)
    await s.ack((await s.peek())!); // within cursorSyncMs: in memory only
    // "Crash": the instance is abandoned without close().
    const again = await openSpool({ segmentBytes: 10_000, maxBytes: 100_000 });
    expect(await drainAll(again)).toEqual([2, 3, 4, 5, 6]);
  });

  it("writes the cursor on every ack when cursorSyncMs is 0", async () => {
    const s = await openSpool({ segmentBytes: 10_000, maxBytes: 100_000, cursorSyncMs: 0 });
    for (let i = 1; i <= 5; i++) await s.append(rec(i));
    for (let i = 0; i < 3; i++) await s.ack((await s.peek())!);
    expect(JSON.parse(await readFile(path.join(dir, "cursor.json"), "utf8"))).toEqual({ segment: 1, offset: 300 });
    const again = await openSpool({ segmentBytes: 10_000, maxBytes: 100_000 });
    expect(await drainAll(again)).toEqual([4, 5]);
  });

  it("enforces the bound by deleting the oldest whole segments, with exact drop counts", async () => {
    // 100-byte records, 3 per segment, at most 1000 bytes: 10 records fit.
    const s = await openSpool({ segmentBytes: 300, maxBytes: 1000 });
    for (let i = 1; i <= 20; i++) {
      expect(await s.append(rec(i))).toBe(true);
      expect(s.stats().diskBytes).toBeLessThanOrEqual(1000);
    }
    // 11 drops [1-3], 14 drops [4-6], 17 drops [7-9], 20 drops [10-12]: 13..20 remain.
    expect(s.stats()).toEqual({ pendingBatches: 8, pendingBytes: 800, droppedBatches: 12, droppedBytes: 1200, diskBytes: 800, segments: 3 });
    expect(await drainAll(s)).toEqual([13, 14, 15, 16, 17, 18, 19, 20]);
    expect(logLines.filter((l) => l.msg === "spool full: dropped its oldest segment")).toHaveLength(4);
  });

  it("counts only the unread part of a partly read segment when it is dropped", async () => {
    const s = await openSpool({ segmentBytes: 300, maxBytes: 1000 });
    for (let i = 1; i <= 10; i++) await s.append(rec(i));
    await s.ack((await s.peek())!);
    await s.ack((await s.peek())!);
    await s.append(rec(11)); // drops segment [1-3], of which only 3 was unread
    expect(s.stats()).toMatchObject({ droppedBatches: 1, droppedBytes: 100, pendingBatches: 8 });
    expect(await drainAll(s)).toEqual([4, 5, 6, 7, 8, 9, 10, 11]);
  });

  it("drops (and counts) a record larger than the whole bound", async () => {
    const s = await openSpool({ segmentBytes: 300, maxBytes: 1000 });
    await s.append(rec(1));
    expect(await s.append({ subject: "s", msgId: "big", payload: Buffer.alloc(2000) })).toBe(false);
    expect(s.stats()).toMatchObject({ droppedBatches: 1, droppedBytes: 2000 + 8 + 2 + 1 + 2 + 3, pendingBatches: 1 });
    expect(await drainAll(s)).toEqual([1]);
  });

  it("a bound of a few segments holds under a long run (disk use never past it)", async () => {
    const s = await openSpool({ segmentBytes: 1000, maxBytes: 4000 });
    for (let i = 1; i <= 500; i++) {
      await s.append(rec(i % 100));
      expect(s.stats().diskBytes).toBeLessThanOrEqual(4000);
    }
    const files = await segmentFiles();
    let onDisk = 0;
    for (const f of files) onDisk += (await stat(path.join(dir, f))).size;
    expect(onDisk).toBe(s.stats().diskBytes);
    expect(s.stats().droppedBatches + s.stats().pendingBatches).toBe(500);
  });

  it.each([
    ["cut short mid-payload", async (file: string) => truncate(file, (await stat(file)).size - 30)],
    ["cut short mid-header", async (file: string) => truncate(file, (await stat(file)).size - 96)],
    ["garbage appended", (file: string) => appendFile(file, Buffer.from("\u0000\u0000\u0001\u0000garbage that is not a record"))],
    ["zeros appended (file extended, data never written)", (file: string) => appendFile(file, Buffer.alloc(4096))],
    [
      "last record's bytes damaged (CRC mismatch)",
      async (file: string) => {
        const data = await readFile(file);
        data[data.length - 10] = data[data.length - 10]! ^ 0xff;
        await writeFile(file, data);
      },
    ],
  ])("discards a torn last record (%s) with a log line, never replaying garbage", async (_, damage) => {
    const s = await openSpool({ segmentBytes: 10_000, maxBytes: 100_000 });
    for (let i = 1; i <= 5; i++) await s.append(rec(i));
    await s.ack((await s.peek())!);
    await closeSpool(s);
    const file = path.join(dir, (await segmentFiles())[0]!);
    await damage(file);

    const again = await openSpool({ segmentBytes: 10_000, maxBytes: 100_000 });
    const damagedLast = _.startsWith("cut short") || _.startsWith("last record");
    expect(again.stats()).toMatchObject({ pendingBatches: damagedLast ? 3 : 4, droppedBatches: 1 });
    expect((await stat(file)).size).toBe(damagedLast ? 400 : 500); // the bad tail is gone from disk
    const line = logLines.find((l) => l.msg.includes("truncated or corrupt record at the end of the last segment"));
    expect(line).toMatchObject({ validBytes: damagedLast ? 400 : 500 });
    // Appends continue right after the last good record.
    await again.append(rec(6));
    expect(await drainAll(again)).toEqual(damagedLast ? [2, 3, 4, 6] : [2, 3, 4, 5, 6]);
  });

  it("replays from the oldest segment when the cursor file is corrupt (a duplicate is harmless, a skipped batch is not)", async () => {
    const s = await openSpool({ segmentBytes: 10_000, maxBytes: 100_000 });
    for (let i = 1; i <= 3; i++) await s.append(rec(i));
    await s.ack((await s.peek())!);
    await closeSpool(s);
    await writeFile(path.join(dir, "cursor.json"), "{not json");
    const again = await openSpool({ segmentBytes: 10_000, maxBytes: 100_000 });
    expect(await drainAll(again)).toEqual([1, 2, 3]);
    expect(logLines.some((l) => l.msg.includes("cursor file is corrupt"))).toBe(true);
  });

  it("discard() skips a record and counts it as dropped", async () => {
    const s = await openSpool();
    await s.append(rec(1));
    await s.append(rec(2));
    await s.discard((await s.peek())!);
    expect(s.stats()).toMatchObject({ droppedBatches: 1, droppedBytes: 100, pendingBatches: 1 });
    expect(await drainAll(s)).toEqual([2]);
  });

  it("an ack for a record whose segment was dropped meanwhile changes nothing", async () => {
    const s = await openSpool({ segmentBytes: 300, maxBytes: 1000 });
    for (let i = 1; i <= 10; i++) await s.append(rec(i));
    const stale = (await s.peek())!;
    await s.append(rec(11)); // drops [1-3]
    await s.ack(stale);
    expect(await drainAll(s)).toEqual([4, 5, 6, 7, 8, 9, 10, 11]);
  });

  it("validates its options", async () => {
    await expect(Spool.open({ dir, log: log(), maxBytes: 1000, segmentBytes: 600 })).rejects.toThrow(/segmentBytes must be an integer between 1 and maxBytes \/ 2 \(500\)/);
    const s = await openSpool({ maxBytes: 1000 });
    expect(s.segmentBytes).toBe(250);
    expect((await openSpool({ dir: `${dir}-default` })).segmentBytes).toBe(16 * 1024 * 1024);
  });

  it("refuses use after close", async () => {
    const s = await openSpool();
    await closeSpool(s);
    await expect(s.append(rec(1))).rejects.toThrow(/is closed/);
  });
});
