import { mkdir, readdir, readFile, rm } from "node:fs/promises";
import path from "node:path";
import { writeFileAtomic } from "./atomic-file.ts";

/** Sequences handed out per disk write. A crash loses at most this many numbers (a gap, never a reuse). */
export const DEFAULT_SEQUENCE_BLOCK = 1000;

/** Probe names double as file names: no separators, no dots (so temp files cannot be mistaken for probes). */
const PROBE_NAME = /^[A-Za-z0-9_-]{1,128}$/;

/** A sequence file that cannot be trusted, or one that cannot be written. Keeps the underlying error as `cause`. */
export class SequenceStoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "SequenceStoreError";
  }
}

type ProbeSequence = {
  /** The next number to hand out. */
  next: number;
  /** First number not covered by the persisted reservation: `next < limit` may be handed out without a write. */
  limit: number;
  /** Reservations for one probe run one after another. */
  lock: Promise<unknown>;
};

/**
 * A monotonic sequence per probe (for one agent) that survives restarts: the
 * `seq` of telemetry batches, which the ingester's ledger and JetStream's
 * duplicate window key on, so it must never go backwards.
 *
 * Numbers are reserved in blocks: before the first number of a block is handed
 * out, the first number *after* the block is persisted in `<dir>/<probe>`
 * (temp file + fsync + rename). After a restart the sequence resumes at that
 * persisted value, so numbers handed out before a crash are never reused; the
 * unused rest of the block is a gap, which is fine.
 */
export class SequenceStore {
  private readonly sequences = new Map<string, ProbeSequence>();

  private constructor(
    readonly dir: string,
    readonly blockSize: number,
  ) {}

  /**
   * Open (creating) the store in `dir` and load every persisted sequence. A file
   * that does not hold a plain non-negative integer fails the open with a
   * `SequenceStoreError`: starting that probe again at 0 would reuse numbers.
   */
  static async open(dir: string, opts: { blockSize?: number } = {}): Promise<SequenceStore> {
    const blockSize = opts.blockSize ?? DEFAULT_SEQUENCE_BLOCK;
    if (!Number.isSafeInteger(blockSize) || blockSize < 1) throw new RangeError(`sequence block size must be a positive integer, got ${blockSize}`);
    const store = new SequenceStore(dir, blockSize);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    for (const name of await readdir(dir)) {
      // A temp file left by a crash during a reservation: the rename never happened, the old value stands.
      if (name.endsWith(".tmp")) {
        await rm(path.join(dir, name), { force: true });
        continue;
      }
      if (!PROBE_NAME.test(name)) continue;
      const value = await readSequenceFile(path.join(dir, name));
      store.sequences.set(name, { next: value, limit: value, lock: Promise.resolve() });
    }
    return store;
  }

  /**
   * The next sequence number of `probe`: 0 for a probe never seen, otherwise
   * greater than every number handed out before (in this process or an earlier one).
   * Rejects with a `SequenceStoreError` if a new block cannot be persisted.
   */
  next(probe: string): Promise<number> {
    if (!PROBE_NAME.test(probe)) return Promise.reject(new SequenceStoreError(`probe name ${JSON.stringify(probe)} cannot name a sequence file: expected [A-Za-z0-9_-], 1 to 128 characters`));
    let s = this.sequences.get(probe);
    if (!s) this.sequences.set(probe, (s = { next: 0, limit: 0, lock: Promise.resolve() }));
    const seq = s;
    const result = seq.lock.then(async () => {
      if (seq.next >= seq.limit) {
        const limit = seq.next + this.blockSize;
        const file = path.join(this.dir, probe);
        try {
          await writeFileAtomic(file, `${limit}\n`);
        } catch (err) {
          throw new SequenceStoreError(`cannot reserve sequence numbers for probe "${probe}" in ${file}: ${(err as Error).message}`, { cause: err });
        }
        seq.limit = limit;
      }
      return seq.next++;
    });
    seq.lock = result.catch(() => {});
    return result;
  }

  /** The persisted (reserved-up-to) value of `probe`, or undefined if none: what a restart would resume from. */
  reservedUpTo(probe: string): number | undefined {
    const s = this.sequences.get(probe);
    return s && s.limit > 0 ? s.limit : undefined;
  }
}

async function readSequenceFile(file: string): Promise<number> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new SequenceStoreError(`cannot read sequence file ${file}: ${(err as Error).message}`, { cause: err });
  }
  const value = /^\d{1,16}\n?$/.test(text) ? Number(text.trim()) : NaN;
  if (!Number.isSafeInteger(value)) {
    throw new SequenceStoreError(
      `sequence file ${file} is corrupt: expected the next unreserved sequence number as a decimal integer, found ${JSON.stringify(text.slice(0, 40))}. ` +
        `Restarting at 0 would reuse numbers the ingester has already recorded; write a value above the highest seq stored for this agent and probe to recover.`,
    );
  }
  return value;
}
