import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mkdir, mkdtemp, readFile, readdir, rm, rmdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { SequenceStore, SequenceStoreError } from "../../src/telemetry/sequence-store.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "pp-seq-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const seqDir = () => path.join(dir, "telemetry", "seq");
const persisted = async (probe: string) => (await readFile(path.join(seqDir(), probe), "utf8")).trim();

async function take(store: SequenceStore, probe: string, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await store.next(probe));
  return out;
}

describe("SequenceStore", () => {
  it("starts a new probe at 0 and counts up by one", async () => {
    const store = await SequenceStore.open(seqDir(), { blockSize: 10 });
    expect(await take(store, "host", 5)).toEqual([0, 1, 2, 3, 4]);
  });

  it("persists the end of a block before handing out its first number, and writes only once per block", async () => {
    const store = await SequenceStore.open(seqDir(), { blockSize: 10 });
    await store.next("host");
    expect(await persisted("host")).toBe("10");
    await take(store, "host", 9); // 1..9: same block, no new reservation
    expect(await persisted("host")).toBe("10");
    expect(await store.next("host")).toBe(10);
    expect(await persisted("host")).toBe("20");
    expect(store.reservedUpTo("host")).toBe(20);
  });

  it("is monotonic across restarts: a new instance on the same dir continues above everything handed out", async () => {
    let last = -1;
    // Restarts after 0, 1, 9, 10, 11 and 25 numbers: at a block boundary, inside a block, and unused.
    for (const n of [3, 0, 1, 9, 10, 11, 25, 4]) {
      const store = await SequenceStore.open(seqDir(), { blockSize: 10 });
      const got = await take(store, "host", n);
      for (const seq of got) {
        expect(seq).toBeGreaterThan(last);
        last = seq;
      }
      // Within one run the numbers are contiguous.
      if (got.length > 1) expect(got.at(-1)! - got[0]!).toBe(got.length - 1);
    }
    // The next instance resumes exactly at the persisted reservation.
    const reserved = Number(await persisted("host"));
    expect(reserved).toBeGreaterThan(last);
    expect(await (await SequenceStore.open(seqDir(), { blockSize: 10 })).next("host")).toBe(reserved);
  });

  it("keeps probes independent, one file each", async () => {
    const store = await SequenceStore.open(seqDir(), { blockSize: 100 });
    expect(await take(store, "host", 3)).toEqual([0, 1, 2]);
    expect(await take(store, "tcp_flows", 2)).toEqual([0, 1]);
    expect((await readdir(seqDir())).sort()).toEqual(["host", "tcp_flows"]);
    const again = await SequenceStore.open(seqDir(), { blockSize: 100 });
    expect(await again.next("host")).toBe(100);
    expect(await again.next("tcp_flows")).toBe(100);
    expect(await again.next("oom_kills")).toBe(0);
  });

  it("hands out distinct ascending numbers to concurrent callers across a block boundary", async () => {
    const store = await SequenceStore.open(seqDir(), { blockSize: 10 });
    const got = await Promise.all(Array.from({ length: 25 }, () => store.next("host")));
    expect(got).toEqual(Array.from({ length: 25 }, (_, i) => i));
    expect(await persisted("host")).toBe("30");
  });

  it.each([
    ["empty", ""],
    ["not a number", "twelve\n"],
    ["trailing garbage", "12abc"],
    ["negative", "-5\n"],
    ["JSON", '{"next":12}'],
    ["binary", "\u0000\u0000\u0000"],
  ])("refuses a corrupt sequence file (%s) with a clear error instead of restarting at 0", async (_, content) => {
    const store = await SequenceStore.open(seqDir());
    await store.next("host");
    await writeFile(path.join(seqDir(), "host"), content);
    await expect(SequenceStore.open(seqDir())).rejects.toBeInstanceOf(SequenceStoreError);
    await expect(SequenceStore.open(seqDir())).rejects.toThrow(/sequence file .*telemetry\/seq\/host is corrupt: expected the next unreserved sequence number as a decimal integer/);
  });

  it("ignores a temp file left by a crash mid-reservation (the old value stands) and removes it", async () => {
    const store = await SequenceStore.open(seqDir(), { blockSize: 10 });
    await take(store, "host", 3);
    await writeFile(path.join(seqDir(), "host.1234.tmp"), "garbage");
    const again = await SequenceStore.open(seqDir(), { blockSize: 10 });
    expect(await again.next("host")).toBe(10);
    expect(await readdir(seqDir())).toEqual(["host"]);
  });

  it("rejects a probe name that cannot be a file name", async () => {
    const store = await SequenceStore.open(seqDir());
    await expect(store.next("../identity.json")).rejects.toThrow(/cannot name a sequence file/);
    await expect(store.next("")).rejects.toBeInstanceOf(SequenceStoreError);
  });

  it("fails the reservation, not silently, when the file cannot be written, and recovers when it can", async () => {
    const store = await SequenceStore.open(seqDir(), { blockSize: 2 });
    await take(store, "host", 2);
    // A directory where the temp file should go makes the write fail.
    const blocker = path.join(seqDir(), `host.${process.pid}.tmp`);
    await mkdir(blocker);
    await expect(store.next("host")).rejects.toThrow(/cannot reserve sequence numbers for probe "host"/);
    await rmdir(blocker);
    expect(await store.next("host")).toBe(2);
    expect(await persisted("host")).toBe("4");
  });
});
