/**
 * The record layouts of bpf/include/probepilot.h, as the decoders read them.
 * A kernel test compares every layout here with the BTF of the built objects
 * (agent/test/probes/bpf/loader-and-layouts.kernel.test.ts), so the C structs and these
 * offsets cannot drift apart unnoticed.
 */
export type FieldLayout = { offset: number; size: number };
export type StructLayout<F extends string = string> = { name: string; size: number; fields: Record<F, FieldLayout> };

function layout<F extends string>(name: string, size: number, fields: Record<F, [offset: number, size: number]>): StructLayout<F> {
  const out = {} as Record<F, FieldLayout>;
  for (const key of Object.keys(fields) as F[]) out[key] = { offset: fields[key][0], size: fields[key][1] };
  return { name, size, fields: out };
}

export const HIST_SLOTS = 64;

export const PP_HIST = layout("pp_hist", 528, { slots: [0, 512], sum: [512, 8], count: [520, 8] });
export const PP_COUNT = layout("pp_count", 8, { count: [0, 8] });

export const PP_TCP_FLOW_EVENT = layout("pp_tcp_flow_event", 96, {
  start_ns: [0, 8],
  end_ns: [8, 8],
  bytes_sent: [16, 8],
  bytes_received: [24, 8],
  pid: [32, 4],
  family: [36, 2],
  sport: [38, 2],
  dport: [40, 2],
  direction: [42, 1],
  saddr: [44, 16],
  daddr: [60, 16],
  comm: [76, 16],
});

export const PP_TCP_SIGNAL_KEY = layout("pp_tcp_signal_key", 28, { kind: [0, 4], family: [4, 2], dport: [6, 2], sport: [8, 2], daddr: [12, 16] });

export const PP_BLOCK_KEY = layout("pp_block_key", 8, { dev: [0, 4], op: [4, 4] });

export const PP_STACK_KEY = layout("pp_stack_key", 32, { pid: [0, 4], tid: [4, 4], kernel_stack_id: [8, 4], user_stack_id: [12, 4], comm: [16, 16] });

export const PP_EXEC_EVENT = layout("pp_exec_event", 816, {
  ts_ns: [0, 8],
  pid: [8, 4],
  ppid: [12, 4],
  uid: [16, 4],
  args_size: [20, 4],
  args_count: [24, 4],
  comm: [32, 16],
  filename: [48, 256],
  args: [304, 512],
});

export const PP_EXIT_EVENT = layout("pp_exit_event", 48, {
  ts_ns: [0, 8],
  duration_ns: [8, 8],
  pid: [16, 4],
  ppid: [20, 4],
  exit_code: [24, 4],
  signal: [28, 4],
  comm: [32, 16],
});

export const PP_OPEN_EVENT = layout("pp_open_event", 304, {
  ts_ns: [0, 8],
  pid: [8, 4],
  tid: [12, 4],
  uid: [16, 4],
  flags: [20, 4],
  ret: [24, 8],
  comm: [32, 16],
  path: [48, 256],
});

export const PP_OOM_EVENT = layout("pp_oom_event", 88, {
  ts_ns: [0, 8],
  pid: [8, 4],
  uid: [12, 4],
  oom_score_adj: [16, 4],
  trigger_pid: [20, 4],
  total_vm_kb: [24, 8],
  anon_rss_kb: [32, 8],
  file_rss_kb: [40, 8],
  shmem_rss_kb: [48, 8],
  comm: [56, 16],
  trigger_comm: [72, 16],
});

export const PP_SYSCALL_KEY = layout("pp_syscall_key", 24, { pid: [0, 4], nr: [4, 4], comm: [8, 16] });

/** Every layout, for the BTF comparison. */
export const RECORD_LAYOUTS: StructLayout[] = [
  PP_HIST,
  PP_COUNT,
  PP_TCP_FLOW_EVENT,
  PP_TCP_SIGNAL_KEY,
  PP_BLOCK_KEY,
  PP_STACK_KEY,
  PP_EXEC_EVENT,
  PP_EXIT_EVENT,
  PP_OPEN_EVENT,
  PP_OOM_EVENT,
  PP_SYSCALL_KEY,
];

/** A record shorter than its layout is a loader or probe bug: fail loudly rather than read garbage. */
export function expectSize(record: Buffer, layout: StructLayout): void {
  if (record.length < layout.size) throw new Error(`${layout.name} record of ${record.length} bytes, expected ${layout.size}`);
}

export function u16(buf: Buffer, f: FieldLayout): number {
  return buf.readUInt16LE(f.offset);
}
export function u32(buf: Buffer, f: FieldLayout): number {
  return buf.readUInt32LE(f.offset);
}
export function s32(buf: Buffer, f: FieldLayout): number {
  return buf.readInt32LE(f.offset);
}
/** u64 as a number: exact below 2^53, which every count, byte total and nanosecond timestamp here stays under. */
export function u64(buf: Buffer, f: FieldLayout): number {
  return Number(buf.readBigUInt64LE(f.offset));
}
export function s64(buf: Buffer, f: FieldLayout): number {
  return Number(buf.readBigInt64LE(f.offset));
}

/** A NUL-padded fixed-size C string. */
export function cstring(buf: Buffer, f: FieldLayout): string {
  const bytes = buf.subarray(f.offset, f.offset + f.size);
  const end = bytes.indexOf(0);
  return bytes.toString("utf8", 0, end === -1 ? bytes.length : end);
}

export const AF_INET = 2;
export const AF_INET6 = 10;

/** An address field (IPv4 in its first 4 bytes, network order) in the usual text form. */
export function ipAddress(buf: Buffer, f: FieldLayout, family: number): string {
  const b = buf.subarray(f.offset, f.offset + 16);
  if (family === AF_INET) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // Collapse the longest run of zero groups (RFC 5952).
  let best = { start: -1, len: 0 };
  for (let i = 0; i < 8; ) {
    if (groups[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > best.len && j - i > 1) best = { start: i, len: j - i };
    i = j;
  }
  if (best.start === -1) return groups.join(":");
  const v4mapped = best.start === 0 && best.len === 5 && groups[5] === "ffff";
  if (v4mapped) return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  return `${groups.slice(0, best.start).join(":")}::${groups.slice(best.start + best.len).join(":")}`;
}

/** Decode a `pp_hist` value. */
export function decodeHist(value: Buffer): { slots: number[]; sum: number; count: number } {
  const slots: number[] = new Array(HIST_SLOTS);
  for (let i = 0; i < HIST_SLOTS; i++) slots[i] = Number(value.readBigUInt64LE(PP_HIST.fields.slots.offset + i * 8));
  return { slots, sum: u64(value, PP_HIST.fields.sum), count: u64(value, PP_HIST.fields.count) };
}
