/**
 * The `ppbpf` loader's stdout framing (bpf/README.md, "Framing"): an 8-byte
 * little-endian header (u32 payload length, u16 type, u16 map index) then the payload.
 */
export const FRAME_HEADER_BYTES = 8;

export const FrameType = {
  READY: 1,
  ERROR: 2,
  EVENT: 3,
  MAP_DUMP: 4,
  INTERVAL: 5,
} as const;
export type FrameTypeCode = (typeof FrameType)[keyof typeof FrameType];

export type Frame = { type: number; mapIndex: number; payload: Buffer };

/** A frame larger than this means the stream is corrupt (the biggest legitimate one is a map dump of a few MB). */
const MAX_FRAME_BYTES = 256 * 1024 * 1024;

/**
 * Cuts a byte stream into frames. Chunks arrive as the pipe delivers them, with
 * frames split anywhere; complete frames are handed out as they are found and
 * the remainder is kept (copied only when a frame spans chunks).
 */
export class FrameReader {
  private pending: Buffer = Buffer.alloc(0);
  /** Chunks of a frame larger than one read (a big map dump), joined once it is complete. */
  private waiting: Buffer[] = [];
  private waitingBytes = 0;
  private waitingFor = 0;

  /** Feed one chunk; returns the frames it completed. Throws on a corrupt length. */
  push(chunk: Buffer): Frame[] {
    if (this.waitingFor > 0) {
      // A large frame is being collected: keep the chunks, copy once at the end (not once per chunk).
      this.waiting.push(chunk);
      this.waitingBytes += chunk.length;
      if (this.waitingBytes < this.waitingFor) return [];
      chunk = Buffer.concat(this.waiting, this.waitingBytes);
      this.waiting = [];
      this.waitingBytes = 0;
      this.waitingFor = 0;
    } else if (this.pending.length > 0) {
      chunk = Buffer.concat([this.pending, chunk]);
    }
    const data = chunk;
    const frames: Frame[] = [];
    let offset = 0;
    while (data.length - offset >= FRAME_HEADER_BYTES) {
      const length = data.readUInt32LE(offset);
      if (length > MAX_FRAME_BYTES) throw new Error(`corrupt loader output: a frame of ${length} bytes`);
      const end = offset + FRAME_HEADER_BYTES + length;
      if (end > data.length) break;
      frames.push({
        type: data.readUInt16LE(offset + 4),
        mapIndex: data.readUInt16LE(offset + 6),
        payload: data.subarray(offset + FRAME_HEADER_BYTES, end),
      });
      offset = end;
    }
    const rest = data.subarray(offset);
    this.pending = Buffer.alloc(0);
    if (rest.length >= FRAME_HEADER_BYTES) {
      // An incomplete frame: collect its chunks until all FRAME_HEADER_BYTES + length bytes are here.
      const length = rest.readUInt32LE(0);
      if (length > MAX_FRAME_BYTES) throw new Error(`corrupt loader output: a frame of ${length} bytes`);
      this.waiting = [Buffer.from(rest)];
      this.waitingBytes = rest.length;
      this.waitingFor = FRAME_HEADER_BYTES + length;
    } else if (rest.length > 0) {
      // Not even a whole header yet: copied so that `data` is not pinned by a small remainder.
      this.pending = Buffer.from(rest);
    }
    return frames;
  }

  /** Bytes of an incomplete frame still waiting for the rest. */
  get buffered(): number {
    return this.pending.length + this.waitingBytes;
  }
}

/** One map dump: `count` (key, value) pairs of fixed sizes; per-CPU values already summed by the loader. */
export type MapDump = { keySize: number; valueSize: number; entries: { key: Buffer; value: Buffer }[] };

export function decodeMapDump(payload: Buffer): MapDump {
  if (payload.length < 12) throw new Error(`MAP_DUMP frame of ${payload.length} bytes is shorter than its 12-byte header`);
  const keySize = payload.readUInt32LE(0);
  const valueSize = payload.readUInt32LE(4);
  const count = payload.readUInt32LE(8);
  const expected = 12 + count * (keySize + valueSize);
  if (payload.length !== expected) throw new Error(`MAP_DUMP frame: ${count} entries of ${keySize}+${valueSize} bytes need ${expected} bytes, got ${payload.length}`);
  const entries: MapDump["entries"] = [];
  let offset = 12;
  for (let i = 0; i < count; i++) {
    const key = payload.subarray(offset, offset + keySize);
    const value = payload.subarray(offset + keySize, offset + keySize + valueSize);
    entries.push({ key, value });
    offset += keySize + valueSize;
  }
  return { keySize, valueSize, entries };
}
