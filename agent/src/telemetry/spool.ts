import { mkdir, open, readdir, readFile, rm, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { crc32 } from "node:zlib";
import type { Logger } from "../logger.ts";
import { syncDir, writeFileAtomic } from "./atomic-file.ts";

/** Default bound on the spool's disk use. */
export const DEFAULT_SPOOL_MAX_BYTES = 512 * 1024 * 1024;
/** Default segment size: a segment is rotated before a record would take it past this. */
export const DEFAULT_SPOOL_SEGMENT_BYTES = 16 * 1024 * 1024;
/** How often, at most, the read cursor is persisted while draining (it is always persisted on segment changes and on close). */
export const DEFAULT_CURSOR_SYNC_MS = 1000;

/**
 * Record layout (big-endian):
 *
 *   u32 bodyLength | u32 crc32(body) | body
 *   body = u16 subjectLength | subject (UTF-8) | u16 msgIdLength | msgId (UTF-8) | payload
 *
 * The length and CRC detect a record torn by a crash mid-append (short, or
 * zero-filled by the file system): it is discarded, never replayed as garbage.
 */
const HEADER_BYTES = 8;
const MIN_BODY_BYTES = 4;
/** No sane record is this large (a batch is at most 1 MiB); a bigger length field is garbage. */
const MAX_BODY_BYTES = 64 * 1024 * 1024;
const SEGMENT_SUFFIX = ".seg";
const CURSOR_FILE = "cursor.json";

/** One spooled telemetry batch: where to publish it, its JetStream msgID, and the encoded envelope. */
export type SpoolRecord = { subject: string; msgId: string; payload: Uint8Array };

/** Where a record starts: segment id and byte offset in it. */
export type SpoolPosition = { segment: number; offset: number };

/** A record read at the cursor, to be passed back to `ack()` once it has been delivered. */
export type SpoolEntry = SpoolRecord & { readonly position: SpoolPosition; /** bytes on disk, header included */ readonly size: number };

export type SpoolStats = {
  /** Records written and not yet acked (what a drain still has to replay). */
  pendingBatches: number;
  /** Bytes of those records on disk, headers included. */
  pendingBytes: number;
  /** Records dropped since open: oldest segments deleted past the bound, records over the bound, failed appends, corrupt data. */
  droppedBatches: number;
  droppedBytes: number;
  /** Total size of the segment files (what the bound applies to). */
  diskBytes: number;
  segments: number;
};

export type SpoolOptions = {
  dir: string;
  log: Logger;
  /** Bound on the segment files' total size; past it the oldest whole segments are deleted. Default 512 MiB. */
  maxBytes?: number;
  /** Segment size; at most half of `maxBytes`. Default 16 MiB (or a quarter of `maxBytes` if that is smaller). */
  segmentBytes?: number;
  cursorSyncMs?: number;
};

type Segment = { id: number; size: number; records: number };

/**
 * An append-only disk spool of telemetry batches, for when NATS is unreachable.
 *
 * Layout under `dir`: segment files `<20-digit id>.seg` holding length-prefixed,
 * CRC-checked records, and `cursor.json`, the persisted read position (segment
 * and offset of the oldest record not yet acked). Records are read strictly in
 * the order they were appended; a fully read segment is deleted.
 *
 * Disk use is bounded: an append that would take the segment files past
 * `maxBytes` first deletes the oldest whole segments, counting the records and
 * bytes it drops. Durability is cheap on purpose: no fsync per record, but
 * segments are fsynced when rotated and the cursor is written atomically (at
 * most every `cursorSyncMs` while draining). After a crash the cursor may be a
 * little behind, so a few batches are replayed twice; that is harmless because
 * their msgIDs are stable (JetStream deduplicates them) and the ingester's
 * ledger ignores a (agent, probe, seq) it has already stored.
 *
 * All operations run one at a time (a single writer and a single reader in one
 * process). Open one `Spool` per directory.
 */
export class Spool {
  private readonly segments: Segment[] = [];
  /** Read position: always in `segments[0]` when there is one. `consumed` counts records before `offset` in that segment. */
  private cursor = { segment: 1, offset: 0, consumed: 0 };
  private nextSegmentId = 1;
  private writer: { segment: Segment; fh: FileHandle } | null = null;
  private reader: { segment: number; fh: FileHandle } | null = null;
  private totalBytes = 0;
  private pendingBatches = 0;
  private pendingBytes = 0;
  private droppedBatches = 0;
  private droppedBytes = 0;
  private cursorDirty = false;
  private cursorWrittenAt = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private closing: Promise<void> | null = null;
  readonly maxBytes: number;
  readonly segmentBytes: number;
  private readonly cursorSyncMs: number;

  private constructor(
    readonly dir: string,
    private readonly log: Logger,
    opts: SpoolOptions,
  ) {
    this.maxBytes = opts.maxBytes ?? DEFAULT_SPOOL_MAX_BYTES;
    if (!Number.isSafeInteger(this.maxBytes) || this.maxBytes < 2) throw new RangeError(`spool maxBytes must be an integer ≥ 2, got ${this.maxBytes}`);
    if (opts.segmentBytes !== undefined) {
      if (!Number.isSafeInteger(opts.segmentBytes) || opts.segmentBytes < 1 || opts.segmentBytes > this.maxBytes / 2) {
        throw new RangeError(`spool segmentBytes must be an integer between 1 and maxBytes / 2 (${Math.floor(this.maxBytes / 2)}), got ${opts.segmentBytes}`);
      }
      this.segmentBytes = opts.segmentBytes;
    } else {
      this.segmentBytes = Math.min(DEFAULT_SPOOL_SEGMENT_BYTES, Math.max(1, Math.floor(this.maxBytes / 4)));
    }
    this.cursorSyncMs = opts.cursorSyncMs ?? DEFAULT_CURSOR_SYNC_MS;
  }

  /**
   * Open (creating) the spool in `opts.dir`: validate every segment, discard a
   * torn or corrupt tail (with a log line), and resume at the persisted cursor.
   */
  static async open(opts: SpoolOptions): Promise<Spool> {
    const spool = new Spool(opts.dir, opts.log, opts);
    await mkdir(opts.dir, { recursive: true, mode: 0o700 });
    await spool.recover();
    return spool;
  }

  /** Counters and sizes, as of now. */
  stats(): SpoolStats {
    return {
      pendingBatches: this.pendingBatches,
      pendingBytes: this.pendingBytes,
      droppedBatches: this.droppedBatches,
      droppedBytes: this.droppedBytes,
      diskBytes: this.totalBytes,
      segments: this.segments.length,
    };
  }

  /** True when every appended record has been acked. */
  get isEmpty(): boolean {
    return this.pendingBatches === 0;
  }

  /**
   * Append a record behind everything already spooled. Past the bound, the
   * oldest segments are dropped first (and counted). Resolves `false` when the
   * record itself could not be kept (larger than the bound, or the write
   * failed); that is counted as a drop too.
   */
  append(record: SpoolRecord): Promise<boolean> {
    return this.exclusive(() => this.appendNow(record));
  }

  /** The oldest record not yet acked, or null when the spool is empty. Calling it again without `ack()` returns the same record. */
  peek(): Promise<SpoolEntry | null> {
    return this.exclusive(() => this.peekNow());
  }

  /**
   * Move the cursor past `entry` (call after its delivery was confirmed). A no-op
   * if the cursor is no longer at the entry (its segment was dropped meanwhile).
   */
  ack(entry: SpoolEntry): Promise<void> {
    return this.exclusive(() => this.ackNow(entry));
  }

  /**
   * Move the cursor past `entry` without delivering it, counting it as dropped:
   * for a record the server refuses for good, which would otherwise block every record behind it.
   */
  discard(entry: SpoolEntry): Promise<void> {
    return this.exclusive(async () => {
      if (this.cursor.segment !== entry.position.segment || this.cursor.offset !== entry.position.offset) return;
      this.drop(1, entry.size);
      await this.ackNow(entry);
    });
  }

  /** Persist the cursor, fsync and close the files (after any operation in progress). The spool is unusable afterwards; closing again is a no-op. */
  close(): Promise<void> {
    return (this.closing ??= this.exclusive(async () => {
      this.closed = true;
      if (this.cursorDirty) await this.writeCursor();
      if (this.writer) {
        await this.writer.fh.sync();
        await this.writer.fh.close();
        this.writer = null;
      }
      await this.closeReader();
    }));
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(() => {
      if (this.closed) throw new Error(`spool ${this.dir} is closed`);
      return fn();
    });
    this.queue = run.catch(() => {});
    return run;
  }

  // ---- open and recovery -------------------------------------------------

  private async recover(): Promise<void> {
    const names = await readdir(this.dir);
    for (const name of names) if (name.endsWith(".tmp")) await rm(path.join(this.dir, name), { force: true });
    const ids = names
      .filter((n) => n.endsWith(SEGMENT_SUFFIX))
      .map((n) => Number(n.slice(0, -SEGMENT_SUFFIX.length)))
      .filter((id) => Number.isSafeInteger(id) && id > 0)
      .sort((a, b) => a - b);
    const saved = await this.readCursor();
    let start = { segment: ids[0] ?? 1, offset: 0 };
    if (saved && ids.length > 0) {
      if (saved.segment < ids[0]!) start = { segment: ids[0]!, offset: 0 }; // its segments were consumed or dropped
      else if (ids.includes(saved.segment)) start = saved;
      else this.log.warn({ dir: this.dir, cursor: saved, segments: ids }, "spool cursor names a segment that does not exist: replaying from the oldest segment");
    }
    for (const id of ids) {
      const file = this.segmentPath(id);
      if (id < start.segment) {
        await rm(file, { force: true }); // fully read before a crash, not yet deleted
        continue;
      }
      const { size, records, boundaries, fileSize } = scanSegment(await readFile(file));
      if (size < fileSize) {
        // Only the tail of the last segment can be torn by a crash; anything else is disk corruption. Either way the bytes are dropped.
        const last = id === ids.at(-1);
        this.log[last ? "warn" : "error"](
          { dir: this.dir, segment: id, validBytes: size, discardedBytes: fileSize - size },
          last ? "spool: discarding a truncated or corrupt record at the end of the last segment (crash during an append)" : "spool: discarding corrupt data at the end of a segment",
        );
        this.droppedBatches += 1;
        this.droppedBytes += fileSize - size;
        const fh = await open(file, "r+");
        try {
          await fh.truncate(size);
          await fh.sync();
        } finally {
          await fh.close();
        }
      }
      const segment = { id, size, records };
      if (id === start.segment) {
        // Resume at the saved offset if it is a record boundary; otherwise at the next one (a replayed record is harmless, a misaligned read is not).
        let consumed = boundaries.findIndex((b) => b >= start.offset);
        if (consumed === -1) consumed = records;
        const offset = consumed < records ? boundaries[consumed]! : size;
        if (offset !== start.offset) this.log.warn({ dir: this.dir, cursor: start, resumeAt: offset }, "spool cursor is not at a record boundary: resuming at the next one");
        this.cursor = { segment: id, offset, consumed };
      }
      this.segments.push(segment);
      this.totalBytes += size;
    }
    // Segments are only deleted below the cursor's, so an empty list means an empty directory.
    this.nextSegmentId = (this.segments.at(-1)?.id ?? 0) + 1;
    if (this.segments.length === 0) this.cursor = { segment: this.nextSegmentId, offset: 0, consumed: 0 };
    this.pendingBatches = this.segments.reduce((n, s) => n + s.records, 0) - this.cursor.consumed;
    this.pendingBytes = this.totalBytes - this.cursor.offset;
    if (this.pendingBatches > 0) this.log.info({ dir: this.dir, pendingBatches: this.pendingBatches, pendingBytes: this.pendingBytes }, "spool holds batches from an earlier run: they are replayed first");
  }

  private async readCursor(): Promise<SpoolPosition | null> {
    let text: string;
    try {
      text = await readFile(path.join(this.dir, CURSOR_FILE), "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw err;
    }
    try {
      const c = JSON.parse(text) as { segment?: unknown; offset?: unknown };
      if (Number.isSafeInteger(c.segment) && Number.isSafeInteger(c.offset) && (c.offset as number) >= 0) return { segment: c.segment as number, offset: c.offset as number };
    } catch {
      // fall through
    }
    // Replaying from the oldest segment re-sends batches that were delivered already, which dedup makes harmless; skipping would lose data.
    this.log.warn({ dir: this.dir, content: text.slice(0, 80) }, "spool cursor file is corrupt: replaying from the oldest segment");
    return null;
  }

  private async writeCursor(): Promise<void> {
    await writeFileAtomic(path.join(this.dir, CURSOR_FILE), JSON.stringify({ segment: this.cursor.segment, offset: this.cursor.offset }) + "\n");
    this.cursorDirty = false;
    this.cursorWrittenAt = Date.now();
  }

  private segmentPath(id: number): string {
    return path.join(this.dir, `${String(id).padStart(20, "0")}${SEGMENT_SUFFIX}`);
  }

  // ---- writing -----------------------------------------------------------

  private async appendNow(record: SpoolRecord): Promise<boolean> {
    const buf = encodeRecord(record);
    if (buf.byteLength > this.maxBytes) {
      this.drop(1, buf.byteLength);
      this.log.error({ dir: this.dir, bytes: buf.byteLength, maxBytes: this.maxBytes }, "spool: batch larger than the whole spool bound: dropped");
      return false;
    }
    let writer = this.writer ?? (await this.openWriter());
    if (writer.segment.size > 0 && writer.segment.size + buf.byteLength > this.segmentBytes) writer = await this.rotate();
    while (this.totalBytes + buf.byteLength > this.maxBytes) writer = await this.dropOldest();
    try {
      await writer.fh.write(buf);
    } catch (err) {
      this.drop(1, buf.byteLength);
      this.log.error({ dir: this.dir, err: (err as Error).message }, "spool: append failed: batch dropped");
      // A partial write would misalign every later record: cut it off, or start a fresh segment if even that fails.
      try {
        await writer.fh.truncate(writer.segment.size);
      } catch {
        await this.rotate().catch(() => {});
      }
      return false;
    }
    writer.segment.size += buf.byteLength;
    writer.segment.records += 1;
    this.totalBytes += buf.byteLength;
    this.pendingBatches += 1;
    this.pendingBytes += buf.byteLength;
    return true;
  }

  /** The writer on the last segment, creating the first segment of an empty spool. */
  private async openWriter(): Promise<{ segment: Segment; fh: FileHandle }> {
    let segment = this.segments.at(-1);
    if (!segment) {
      segment = { id: this.nextSegmentId++, size: 0, records: 0 };
      this.segments.push(segment);
      this.cursor = { segment: segment.id, offset: 0, consumed: 0 };
    }
    const fh = await open(this.segmentPath(segment.id), "a", 0o600);
    if (segment.size === 0) await syncDir(this.dir);
    return (this.writer = { segment, fh });
  }

  /** Finish the current segment (fsync, close) and start a new one. */
  private async rotate(): Promise<{ segment: Segment; fh: FileHandle }> {
    if (this.writer) {
      const old = this.writer;
      this.writer = null;
      await old.fh.sync();
      await old.fh.close();
    }
    const segment = { id: this.nextSegmentId++, size: 0, records: 0 };
    const fh = await open(this.segmentPath(segment.id), "a", 0o600);
    this.segments.push(segment);
    await syncDir(this.dir);
    this.writer = { segment, fh };
    // A fully read segment is not needed any more.
    if (this.segments.length > 1 && this.cursor.offset >= this.segments[0]!.size) await this.removeOldest();
    return this.writer;
  }

  /** Delete the oldest segment to make room, counting what was still unread in it. Returns the (possibly new) writer. */
  private async dropOldest(): Promise<{ segment: Segment; fh: FileHandle }> {
    if (this.segments.length === 1) {
      await this.rotate(); // never delete the file being written
      if (this.segments.length === 1) return this.writer!; // rotate() removed it: it was fully read
    }
    const oldest = this.segments[0]!;
    const batches = oldest.records - this.cursor.consumed;
    const bytes = oldest.size - this.cursor.offset;
    if (batches > 0) {
      this.drop(batches, bytes);
      this.pendingBatches -= batches;
      this.pendingBytes -= bytes;
      this.log.warn({ dir: this.dir, segment: oldest.id, droppedBatches: batches, droppedBytes: bytes, maxBytes: this.maxBytes }, "spool full: dropped its oldest segment");
    }
    await this.removeOldest();
    return this.writer!;
  }

  /** Delete `segments[0]` and move the cursor to the start of the next segment. */
  private async removeOldest(): Promise<void> {
    const oldest = this.segments.shift()!;
    this.totalBytes -= oldest.size;
    if (this.reader?.segment === oldest.id) await this.closeReader();
    await rm(this.segmentPath(oldest.id), { force: true });
    this.cursor = { segment: this.segments[0]!.id, offset: 0, consumed: 0 };
    // The cursor must not name a deleted segment for long: persist it now.
    await this.writeCursor();
  }

  private drop(batches: number, bytes: number): void {
    this.droppedBatches += batches;
    this.droppedBytes += bytes;
  }

  // ---- reading -----------------------------------------------------------

  private async peekNow(): Promise<SpoolEntry | null> {
    for (;;) {
      const segment = this.segments[0];
      if (!segment || this.pendingBatches === 0) return null;
      if (this.cursor.offset >= segment.size) {
        if (segment === this.segments.at(-1)) return null;
        await this.removeOldest();
        continue;
      }
      const entry = await this.readAt(segment, this.cursor.offset);
      if (entry) return entry;
      // Corrupt in the middle of a segment (the disk, not a crash: the tail was checked at open). Skip the rest of it.
      const batches = segment.records - this.cursor.consumed;
      const bytes = segment.size - this.cursor.offset;
      this.log.error({ dir: this.dir, segment: segment.id, offset: this.cursor.offset, droppedBatches: batches, droppedBytes: bytes }, "spool: corrupt record: dropping the rest of its segment");
      this.drop(batches, bytes);
      this.pendingBatches -= batches;
      this.pendingBytes -= bytes;
      if (segment === this.segments.at(-1)) await this.rotate();
      await this.removeOldest();
    }
  }

  private async readAt(segment: Segment, offset: number): Promise<SpoolEntry | null> {
    if (this.reader?.segment !== segment.id) {
      await this.closeReader();
      this.reader = { segment: segment.id, fh: await open(this.segmentPath(segment.id), "r") };
    }
    const fh = this.reader.fh;
    const header = Buffer.alloc(HEADER_BYTES);
    if (offset + HEADER_BYTES > segment.size) return null;
    const h = await fh.read(header, 0, HEADER_BYTES, offset);
    if (h.bytesRead !== HEADER_BYTES) return null;
    const length = header.readUInt32BE(0);
    if (length < MIN_BODY_BYTES || length > MAX_BODY_BYTES || offset + HEADER_BYTES + length > segment.size) return null;
    const body = Buffer.alloc(length);
    const b = await fh.read(body, 0, length, offset + HEADER_BYTES);
    if (b.bytesRead !== length || crc32(body) !== header.readUInt32BE(4)) return null;
    const record = decodeBody(body);
    if (!record) return null;
    return { ...record, position: { segment: segment.id, offset }, size: HEADER_BYTES + length };
  }

  private async ackNow(entry: SpoolEntry): Promise<void> {
    if (this.cursor.segment !== entry.position.segment || this.cursor.offset !== entry.position.offset) return;
    this.cursor.offset += entry.size;
    this.cursor.consumed += 1;
    this.pendingBatches -= 1;
    this.pendingBytes -= entry.size;
    this.cursorDirty = true;
    const segment = this.segments[0]!;
    if (this.cursor.offset >= segment.size && segment !== this.segments.at(-1)) {
      await this.removeOldest(); // persists the cursor
    } else if (this.pendingBatches === 0 || Date.now() - this.cursorWrittenAt >= this.cursorSyncMs) {
      await this.writeCursor();
    }
  }

  private async closeReader(): Promise<void> {
    const reader = this.reader;
    this.reader = null;
    await reader?.fh.close();
  }
}

const encoder = new TextEncoder();

function encodeRecord(record: SpoolRecord): Buffer {
  const subject = encoder.encode(record.subject);
  const msgId = encoder.encode(record.msgId);
  if (subject.byteLength > 0xffff || msgId.byteLength > 0xffff) throw new RangeError("spool: subject and msgId must each be under 64 KiB");
  const bodyLength = 2 + subject.byteLength + 2 + msgId.byteLength + record.payload.byteLength;
  const buf = Buffer.allocUnsafe(HEADER_BYTES + bodyLength);
  let o = HEADER_BYTES;
  buf.writeUInt16BE(subject.byteLength, o);
  buf.set(subject, (o += 2));
  buf.writeUInt16BE(msgId.byteLength, (o += subject.byteLength));
  buf.set(msgId, (o += 2));
  buf.set(record.payload, (o += msgId.byteLength));
  const body = buf.subarray(HEADER_BYTES);
  buf.writeUInt32BE(bodyLength, 0);
  buf.writeUInt32BE(crc32(body), 4);
  return buf;
}

function decodeBody(body: Buffer): SpoolRecord | null {
  const subjectLength = body.readUInt16BE(0);
  if (2 + subjectLength + 2 > body.byteLength) return null;
  const subject = body.toString("utf8", 2, 2 + subjectLength);
  const msgIdLength = body.readUInt16BE(2 + subjectLength);
  const payloadStart = 2 + subjectLength + 2 + msgIdLength;
  if (payloadStart > body.byteLength) return null;
  const msgId = body.toString("utf8", 4 + subjectLength, payloadStart);
  return { subject, msgId, payload: body.subarray(payloadStart) };
}

/** Walk a segment's records: the length of its valid prefix, the number of records in it and where each starts. */
function scanSegment(data: Buffer): { size: number; records: number; boundaries: number[]; fileSize: number } {
  const boundaries: number[] = [];
  let offset = 0;
  while (offset + HEADER_BYTES <= data.byteLength) {
    const length = data.readUInt32BE(offset);
    const end = offset + HEADER_BYTES + length;
    if (length < MIN_BODY_BYTES || length > MAX_BODY_BYTES || end > data.byteLength) break;
    const body = data.subarray(offset + HEADER_BYTES, end);
    if (crc32(body) !== data.readUInt32BE(offset + 4) || !decodeBody(body)) break;
    boundaries.push(offset);
    offset = end;
  }
  return { size: offset, records: boundaries.length, boundaries, fileSize: data.byteLength };
}
