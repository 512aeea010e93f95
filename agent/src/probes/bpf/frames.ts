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

  /** Feed one chunk; returns the frames it completed. Throws on a corrupt length. */
  push(chunk: Buffer): Frame[] {
    const data = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
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
    // Frames handed out keep views into `data`; the tail is copied so `data` is not pinned by a small remainder.
    this.pending = offset === data.length ? Buffer.alloc(0) : Buffer.from(data.subarray(offset));
    return frames;
  }

  /** Bytes of an incomplete frame still waiting for the rest. */
  get buffered(): number {
    return this.pending.length;
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
