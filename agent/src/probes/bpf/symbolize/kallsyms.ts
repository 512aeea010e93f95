import { closeSync, openSync, readSync } from "node:fs";
import { open } from "node:fs/promises";
import { lastAtOrBelow } from "./sorted-search.ts";

/**
 * Kernel symbolization from /proc/kallsyms. The file lists every kernel symbol
 * as `ADDRESS TYPE NAME [MODULE]` with no sizes, so an address belongs to the
 * nearest text symbol at or below it.
 *
 * The file is ~5 MB for ~120k text symbols and the table lives as long as the
 * agent, so both the parse and the table avoid a JS object or string per
 * symbol: the file is read in chunks and parsed as bytes, and the table is a
 * handful of typed arrays plus one buffer of names, decoded on lookup.
 */

export const KALLSYMS_PATH = "/proc/kallsyms";

/** A kernel address resolved to the text symbol containing it. */
export interface KernelSymbol {
  name: string;
  /** Bytes from the symbol's start. */
  offset: number;
  /** The loadable module (or `bpf`, `__builtin__ftrace`) the symbol belongs to; absent for the core kernel. */
  module?: string;
}

/** Why an address has no symbol: a short phrase for `[unknown: …]`. */
export interface Unresolved {
  unknown: string;
}

/** Names are NUL-terminated in {@link KallsymsTable.names}; every NAME_STRIDE-th one's offset is kept, the rest are found by scanning. */
const NAME_STRIDE = 16;
const TWO_POW_32 = 0x1_0000_0000;

/**
 * The packed form of a kallsyms table, built by {@link parseKallsyms}. Entry
 * `i` (ascending, distinct addresses) is the symbol at address
 * `hi * 2^32 + lo[i]`, where `hi` is the value of the run holding `i`:
 * addresses are sorted, so their high halves form a few runs (one on x86_64,
 * where all kernel text is in 0xffffffff…), and storing them once per run
 * halves the address array.
 */
export interface KallsymsTable {
  /** Low 32 bits of each address. */
  lo: Uint32Array;
  /** High 32 bits of each run of addresses, ascending. */
  hiRuns: Uint32Array;
  /** Index of the first entry of each of those runs; the first is 0. */
  hiRunStarts: Uint32Array;
  /** Every entry's name, latin1, NUL-terminated, in entry order. */
  names: Buffer;
  /** Offset in `names` of entry `k * NAME_STRIDE`'s name. */
  nameIndex: Uint32Array;
  /** Index of the first entry of each run of one module (entries are sorted, so a module's symbols are mostly contiguous); the first is 0. */
  moduleRunStarts: Uint32Array;
  /** The module of each run, an index into `moduleNames`. */
  moduleRunIds: Uint32Array;
  /** Distinct module names; index 0 is the core kernel (no module). */
  moduleNames: readonly (string | undefined)[];
}

const EMPTY_TABLE: KallsymsTable = {
  lo: new Uint32Array(0),
  hiRuns: new Uint32Array(0),
  hiRunStarts: new Uint32Array(0),
  names: Buffer.alloc(0),
  nameIndex: new Uint32Array(0),
  moduleRunStarts: new Uint32Array(0),
  moduleRunIds: new Uint32Array(0),
  moduleNames: [undefined],
};

/**
 * The kernel's text symbols sorted by address, looked up by binary search.
 * Addresses are u64 above 2^53 (0xffffffff8…), so each is kept as two u32
 * halves (see {@link KallsymsTable}) rather than a bigint or a double.
 */
export class KernelSymbols {
  /** Built by {@link parseKallsyms}. */
  constructor(
    private readonly table: KallsymsTable,
    /** Set when no address can be resolved at all (kallsyms hidden or unreadable). */
    readonly unavailable?: string,
  ) {}

  /** A table that resolves nothing, saying why (e.g. `/proc/kallsyms unreadable: EACCES`). */
  static unresolvable(reason: string): KernelSymbols {
    return new KernelSymbols(EMPTY_TABLE, reason);
  }

  /** Number of distinct text addresses known. */
  get size(): number {
    return this.table.lo.length;
  }

  /** The text symbol containing `ip`, or why there is none. */
  lookup(ip: bigint): KernelSymbol | Unresolved {
    if (this.unavailable !== undefined) return { unknown: this.unavailable };
    const { lo, hiRuns, hiRunStarts } = this.table;
    // Negative or ≥ 2^64 (never from a stack map) fall below the first run or into the last.
    const ipHi = Number(ip >> 32n);
    const ipLo = Number(ip & 0xffff_ffffn);
    let run = lastAtOrBelow(hiRuns, ipHi);
    let found = -1;
    if (run >= 0) {
      const start = hiRunStarts[run]!;
      const end = run + 1 < hiRuns.length ? hiRunStarts[run + 1]! : lo.length;
      if (hiRuns[run]! < ipHi) {
        found = end - 1;
      } else {
        const inRun = lastAtOrBelow(lo.subarray(start, end), ipLo);
        // Below this run's first address: the last entry of the previous run.
        if (inRun >= 0) {
          found = start + inRun;
        } else if (run > 0) {
          found = start - 1;
          run--;
        }
      }
    }
    if (found < 0) return { unknown: `0x${ip.toString(16)} is below the first kernel symbol` };
    const offset = (ipHi - hiRuns[run]!) * TWO_POW_32 + (ipLo - lo[found]!);
    const symbol: KernelSymbol = { name: this.nameAt(found), offset };
    const module = this.moduleAt(found);
    if (module !== undefined) symbol.module = module;
    return symbol;
  }

  /** `name+0xoff [module]` (perf-style, exact), or `[unknown: reason]`. */
  describe(ip: bigint): string {
    const hit = this.lookup(ip);
    if ("unknown" in hit) return `[unknown: ${hit.unknown}]`;
    const module = hit.module === undefined ? "" : ` [${hit.module}]`;
    return `${hit.name}+0x${hit.offset.toString(16)}${module}`;
  }

  private nameAt(i: number): string {
    const { names, nameIndex } = this.table;
    let start = nameIndex[Math.floor(i / NAME_STRIDE)]!;
    for (let skip = i % NAME_STRIDE; skip > 0; skip--) start = names.indexOf(0, start) + 1;
    return names.toString("latin1", start, names.indexOf(0, start));
  }

  private moduleAt(i: number): string | undefined {
    const { moduleRunStarts, moduleRunIds, moduleNames } = this.table;
    return moduleNames[moduleRunIds[lastAtOrBelow(moduleRunStarts, i)]!];
  }
}

// Bytes the parser looks for.
const LF = 0x0a;
const TAB = 0x09;
const SPACE = 0x20;
const UNDERSCORE = 0x5f;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const IA32_PREFIX = Buffer.from("__ia32_", "latin1");

/** Text symbol types: `t`/`T` (local/global code), `w`/`W` (weak code). Data and absolute symbols never appear in stacks. */
function isTextType(type: number): boolean {
  return type === 0x74 /* t */ || type === 0x54 /* T */ || type === 0x77 /* w */ || type === 0x57 /* W */;
}

function isWeakType(type: number): boolean {
  return type === 0x77 || type === 0x57;
}

function isGlobalType(type: number): boolean {
  return type === 0x54 || type === 0x57;
}

/** The value of a hex digit, or -1. */
function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/** `array` copied into a new one of `length` elements. */
function grown<T extends Uint8Array | Uint32Array>(array: T, length: number): T {
  const bigger = new (array.constructor as new (length: number) => T)(length);
  bigger.set(array);
  return bigger;
}

/** Bytes read from the file at a time; lines are at most ~600 bytes (names ≤ 512). */
const CHUNK_BYTES = 256 * 1024;

/**
 * Parses kallsyms as it is read, keeping per text symbol only numbers and the
 * name's bytes, then sorts and packs them ({@link build}).
 */
class KallsymsParser {
  /** Reads go to `chunk[filled, chunk.length)`; then call {@link consume}. `chunk[0, filled)` is the start of a line not yet parsed. */
  chunk = Buffer.allocUnsafeSlow(CHUNK_BYTES);
  filled = 0;

  private count = 0;
  private hi = new Uint32Array(16_384);
  private lo = new Uint32Array(16_384);
  private type = new Uint8Array(16_384);
  private module = new Uint32Array(16_384);
  /** Entry `i`'s name is `nameBytes[nameStart[i], nameStart[i + 1])`. */
  private nameStart = new Uint32Array(16_385);
  private nameBytes = new Uint8Array(256 * 1024);
  private readonly moduleIds = new Map<string, number>();
  private readonly moduleNames: (string | undefined)[] = [undefined];
  private sawAny = false;
  private sawNonZero = false;

  /** Parses the `bytesRead` bytes just read into {@link chunk}; 0 means the end of the file. Returns whether to read on. */
  consume(bytesRead: number): boolean {
    if (bytesRead === 0) {
      this.addLines(this.chunk, this.filled, true);
      this.filled = 0;
      return false;
    }
    this.filled += bytesRead;
    const parsed = this.addLines(this.chunk, this.filled, false);
    this.chunk.copyWithin(0, parsed, this.filled);
    this.filled -= parsed;
    if (this.filled === this.chunk.length) {
      // One line fills the chunk (not kallsyms as the kernel writes it): make room for the rest of it.
      const bigger = Buffer.allocUnsafeSlow(this.chunk.length * 2);
      this.chunk.copy(bigger);
      this.chunk = bigger;
    }
    return true;
  }

  /**
   * Parses the complete lines of `buf[0, end)`, and the trailing partial line
   * too when `final`. Returns where the unparsed rest begins.
   */
  addLines(buf: Buffer, end: number, final: boolean): number {
    let at = 0;
    while (at < end) {
      let eol = buf.indexOf(LF, at);
      if (eol < 0 || eol >= end) {
        if (!final) return at;
        eol = end;
      }
      this.addLine(buf, at, eol);
      at = eol + 1;
    }
    return end;
  }

  /** One line, `buf[start, end)`: `ffffffff81377cc0 T __x64_sys_getpid` or `ffffffffc0201000 t ftrace_trampoline\t[__builtin__ftrace]`. */
  private addLine(buf: Buffer, start: number, end: number): void {
    let space = start;
    while (space < end && buf[space] !== SPACE) space++;
    if (space === start || space + 2 >= end || buf[space + 2] !== SPACE) return;
    const digits = space - start;
    if (digits > 16) return;
    // As two u32 halves: the last 8 digits, and the ones before them.
    let hi = 0;
    let lo = 0;
    const split = space - Math.min(digits, 8);
    for (let at = start; at < space; at++) {
      const d = hexDigit(buf[at]!);
      if (d < 0) return;
      if (at < split) hi = hi * 16 + d;
      else lo = lo * 16 + d;
    }
    this.sawAny = true;
    const allZero = hi === 0 && lo === 0;
    if (!allZero) this.sawNonZero = true;
    const type = buf[space + 1]!;
    if (!isTextType(type) || allZero) return;

    const nameFrom = space + 3;
    let nameTo = nameFrom;
    while (nameTo < end && buf[nameTo] !== TAB) nameTo++;
    const module = nameTo < end ? this.moduleId(buf, nameTo, end) : 0;

    const i = this.count;
    if (i === this.lo.length) {
      const capacity = i * 2;
      this.hi = grown(this.hi, capacity);
      this.lo = grown(this.lo, capacity);
      this.type = grown(this.type, capacity);
      this.module = grown(this.module, capacity);
      this.nameStart = grown(this.nameStart, capacity + 1);
    }
    const nameAt = this.nameStart[i]!;
    const nameEnd = nameAt + (nameTo - nameFrom);
    // Untouched capacity costs address space, not memory: zeroed pages are mapped on first write.
    if (nameEnd > this.nameBytes.length) this.nameBytes = grown(this.nameBytes, Math.max(this.nameBytes.length * 2, nameEnd));
    // A byte loop: Buffer#copy and subarray allocate a view per call, 120k of them per load.
    const nameBytes = this.nameBytes;
    for (let from = nameFrom, to = nameAt; from < nameTo; from++, to++) nameBytes[to] = buf[from]!;
    this.hi[i] = hi;
    this.lo[i] = lo;
    this.type[i] = type;
    this.module[i] = module;
    this.nameStart[i + 1] = nameEnd;
    this.count = i + 1;
  }

  /** The id of the first `[module]` in `buf[from, end)` (what follows the name's tab), 0 if there is none. */
  private moduleId(buf: Buffer, from: number, end: number): number {
    for (let open = buf.indexOf(OPEN_BRACKET, from); open >= 0 && open < end; open = buf.indexOf(OPEN_BRACKET, open + 1)) {
      const close = buf.indexOf(CLOSE_BRACKET, open + 1);
      if (close < 0 || close >= end) return 0;
      if (close === open + 1) continue;
      const name = buf.toString("latin1", open + 1, close);
      let id = this.moduleIds.get(name);
      if (id === undefined) {
        id = this.moduleNames.push(name) - 1;
        this.moduleIds.set(name, id);
      }
      return id;
    }
    return 0;
  }

  /**
   * Sorts and packs what was parsed. When every address read as zero the
   * kernel is hiding them from us (`kernel.kptr_restrict`, or no
   * CAP_SYSLOG), and the result resolves nothing but says so.
   */
  build(): KernelSymbols {
    if (this.sawAny && !this.sawNonZero) return KernelSymbols.unresolvable("kallsyms hidden (kptr_restrict)");
    const n = this.count;
    if (n === 0) return KernelSymbols.unresolvable("no text symbols in kallsyms");
    const { hi, lo, module } = this;

    // The core kernel is listed in address order, modules and BPF programs are not.
    // Equal addresses keep file order, so a tie between equally good aliases goes to the first listed.
    const order = new Uint32Array(n);
    let sorted = true;
    for (let i = 0; i < n; i++) {
      order[i] = i;
      if (i > 0 && (hi[i]! < hi[i - 1]! || (hi[i] === hi[i - 1] && lo[i]! < lo[i - 1]!))) sorted = false;
    }
    if (!sorted) order.sort((a, b) => hi[a]! - hi[b]! || lo[a]! - lo[b]! || a - b);

    // One entry per address, the best-named of its aliases: order[0, kept).
    let kept = 0;
    for (let k = 0; k < n; k++) {
      const e = order[k]!;
      const best = kept > 0 ? order[kept - 1]! : -1;
      if (best >= 0 && hi[best] === hi[e] && lo[best] === lo[e]) {
        if (this.isBetterAlias(e, best)) order[kept - 1] = e;
      } else {
        order[kept++] = e;
      }
    }

    let namesLength = 0;
    for (let k = 0; k < kept; k++) namesLength += this.nameLength(order[k]!) + 1;
    const names = Buffer.allocUnsafeSlow(namesLength);
    const nameIndex = new Uint32Array(Math.ceil(kept / NAME_STRIDE));
    const packedLo = new Uint32Array(kept);
    const hiRuns: number[] = [];
    const hiRunStarts: number[] = [];
    const moduleRunIds: number[] = [];
    const moduleRunStarts: number[] = [];
    let at = 0;
    for (let k = 0; k < kept; k++) {
      const e = order[k]!;
      packedLo[k] = lo[e]!;
      if (k === 0 || hi[e] !== hiRuns[hiRuns.length - 1]) {
        hiRuns.push(hi[e]!);
        hiRunStarts.push(k);
      }
      if (k === 0 || module[e] !== moduleRunIds[moduleRunIds.length - 1]) {
        moduleRunIds.push(module[e]!);
        moduleRunStarts.push(k);
      }
      if (k % NAME_STRIDE === 0) nameIndex[k / NAME_STRIDE] = at;
      for (let from = this.nameStart[e]!, to = this.nameStart[e + 1]!; from < to; from++) names[at++] = this.nameBytes[from]!;
      names[at++] = 0;
    }
    return new KernelSymbols({
      lo: packedLo,
      hiRuns: Uint32Array.from(hiRuns),
      hiRunStarts: Uint32Array.from(hiRunStarts),
      names,
      nameIndex,
      moduleRunStarts: Uint32Array.from(moduleRunStarts),
      moduleRunIds: Uint32Array.from(moduleRunIds),
      moduleNames: this.moduleNames,
    });
  }

  private nameLength(e: number): number {
    return this.nameStart[e + 1]! - this.nameStart[e]!;
  }

  /**
   * Whether entry `e` is a better label than entry `other` at the same address
   * (aliases such as `__x64_sys_getpid`, `__ia32_sys_getpid`,
   * `__do_sys_getpid`). perf's order — non-weak before weak, global before
   * local, fewer leading underscores, then the longer name — with x86's 32-bit
   * syscall entry aliases ranked last.
   */
  private isBetterAlias(e: number, other: number): boolean {
    const type = this.type[e]!;
    const otherType = this.type[other]!;
    const weak = isWeakType(type);
    if (weak !== isWeakType(otherType)) return !weak;
    const global = isGlobalType(type);
    if (global !== isGlobalType(otherType)) return global;
    // x86_64 wraps each syscall as both __x64_sys_* and __ia32_sys_*; 64-bit callers are the common case.
    const compat = this.nameStartsWith(e, IA32_PREFIX);
    if (compat !== this.nameStartsWith(other, IA32_PREFIX)) return !compat;
    const underscores = this.leadingUnderscores(e);
    const otherUnderscores = this.leadingUnderscores(other);
    if (underscores !== otherUnderscores) return underscores < otherUnderscores;
    return this.nameLength(e) > this.nameLength(other);
  }

  private nameStartsWith(e: number, prefix: Uint8Array): boolean {
    const from = this.nameStart[e]!;
    if (this.nameLength(e) < prefix.length) return false;
    for (let i = 0; i < prefix.length; i++) if (this.nameBytes[from + i] !== prefix[i]) return false;
    return true;
  }

  private leadingUnderscores(e: number): number {
    const from = this.nameStart[e]!;
    const to = this.nameStart[e + 1]!;
    let at = from;
    while (at < to && this.nameBytes[at] === UNDERSCORE) at++;
    return at - from;
  }
}

/** Parses /proc/kallsyms text (see {@link loadKallsyms} for the file itself). */
export function parseKallsyms(text: string): KernelSymbols {
  const parser = new KallsymsParser();
  const bytes = Buffer.from(text, "latin1");
  parser.addLines(bytes, bytes.length, true);
  return parser.build();
}

/**
 * Reads and parses kallsyms in chunks, never holding the whole file: the
 * transient peak is a few MB above the ~3.5 MB table. An unreadable file
 * yields a table that says why rather than throwing. /proc/kallsyms hands out
 * one page per read, so this is ~1300 thread-pool round trips (~150 ms) where
 * {@link loadKallsymsSync} blocks for ~100 ms.
 */
export async function loadKallsyms(path = KALLSYMS_PATH): Promise<KernelSymbols> {
  const parser = new KallsymsParser();
  try {
    const handle = await open(path, "r");
    try {
      // Position null: read on from the current offset, as /proc files are meant to be read.
      while (parser.consume((await handle.read(parser.chunk, parser.filled, parser.chunk.length - parser.filled, null)).bytesRead));
    } finally {
      await handle.close();
    }
  } catch (err) {
    return KernelSymbols.unresolvable(`${path} unreadable: ${errorCode(err)}`);
  }
  return parser.build();
}

/** {@link loadKallsyms}, blocking: ~100 ms for 120k symbols. For a first lookup that cannot wait. */
export function loadKallsymsSync(path = KALLSYMS_PATH): KernelSymbols {
  const parser = new KallsymsParser();
  try {
    const fd = openSync(path, "r");
    try {
      while (parser.consume(readSync(fd, parser.chunk, parser.filled, parser.chunk.length - parser.filled, null)));
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    return KernelSymbols.unresolvable(`${path} unreadable: ${errorCode(err)}`);
  }
  return parser.build();
}

/** The errno name of a Node fs error (`ENOENT`), or its message. */
export function errorCode(err: unknown): string {
  if (err && typeof err === "object" && "code" in err && typeof err.code === "string") return err.code;
  return err instanceof Error ? err.message : String(err);
}
