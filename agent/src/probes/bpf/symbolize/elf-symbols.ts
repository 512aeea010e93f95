import { open } from "node:fs/promises";
import { lastAtOrBelow } from "./sorted-search.ts";

/**
 * A minimal ELF64 little-endian reader: just enough to map a file offset to a
 * virtual address (PT_LOAD program headers) and a virtual address to the
 * function containing it (.symtab, else .dynsym). Only the headers and the
 * symbol and string sections are read, at their offsets: a binary like node is
 * ~100 MB, its symbols ~10 MB. The table kept is smaller still (node's: ~4 MB
 * for 78k functions): addresses and sizes in typed arrays, and the names
 * front-coded in one buffer, decoded only when a lookup returns one.
 *
 * Names are returned as stored: C++ and Rust names stay mangled (`_ZN2v88internal…`);
 * demangling is out of scope. Separate debug files (.gnu_debuglink, build-id
 * paths) and MiniDebugInfo (.gnu_debugdata) are not consulted, so a stripped
 * binary resolves only its exported (.dynsym) functions.
 */

/** The file is not an ELF file this reader understands, or is truncated/corrupt. */
export class ElfFormatError extends Error {
  override name = "ElfFormatError";
  constructor(
    /** What is wrong, without the file name. */
    readonly detail: string,
    readonly file: string,
  ) {
    super(`${file}: ${detail}`);
  }
}

// Sizes and constants from the System V ABI / elf(5).
const EHDR_BYTES = 64;
const PHDR_BYTES = 56;
const SHDR_BYTES = 64;
const SYM_BYTES = 24;
const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
const PT_LOAD = 1;
const PF_X = 1;
const SHT_SYMTAB = 2;
const SHT_NOBITS = 8;
const SHT_DYNSYM = 11;
const STT_FUNC = 2;
const STT_GNU_IFUNC = 10;
const STB_LOCAL = 0;
const STB_WEAK = 2;
const SHN_UNDEF = 0;
/** e_phnum value meaning "the real count is in section header 0's sh_info". */
const PN_XNUM = 0xffff;

/** A PT_LOAD segment: file bytes [fileOffset, fileOffset+fileSize) are mapped at vaddr. */
export interface LoadSegment {
  fileOffset: number;
  vaddr: number;
  fileSize: number;
  executable: boolean;
}

/** A virtual address resolved to the function containing it. */
export interface ElfSymbol {
  name: string;
  /** Bytes from the function's start. */
  offset: number;
}

/** Which table the symbols came from; `none` when the file has neither (fully stripped). */
export type SymbolSource = ".symtab" | ".dynsym" | "none";

/**
 * The packed function table of one ELF file, built by {@link readFunctionSymbols}.
 * Entry `i` (ascending, distinct start addresses) is the function at
 * `starts[i]`, `sizes[i]` bytes long, named by entry `i` of `names`.
 */
export interface FunctionTable {
  starts: Float64Array;
  /** 0 when the symbol has no recorded size (hand-written assembly): it then extends to the next symbol. Sizes of 4 GiB or more are clamped to 2^32-1. */
  sizes: Uint32Array;
  /**
   * The names, front-coded: sorted by address, neighbours often share a long
   * prefix (`_ZN2v88internal…`, a third of node's name bytes). Each entry is
   * the number of leading bytes it shares with the previous name (LEB128;
   * always 0 at every NAME_STRIDE-th entry, where decoding can start), the
   * remaining bytes, and a NUL.
   */
  names: Buffer;
  /** Offset in `names` of entry `k * NAME_STRIDE`. */
  nameIndex: Uint32Array;
  /** The longest name, in bytes. */
  maxNameBytes: number;
}

const NAME_STRIDE = 16;

const EMPTY_TABLE: FunctionTable = {
  starts: new Float64Array(0),
  sizes: new Uint32Array(0),
  names: Buffer.alloc(0),
  nameIndex: new Uint32Array(0),
  maxNameBytes: 0,
};

/** Where names are reassembled for decoding; grown to the longest name of any table decoded. */
let nameScratch = Buffer.alloc(256);

/** Function symbols of one ELF file, sorted by address, plus its load segments. */
export class ElfSymbols {
  constructor(
    readonly file: string,
    readonly source: SymbolSource,
    private readonly functions: FunctionTable,
    readonly segments: readonly LoadSegment[],
  ) {}

  /** Number of function symbols. */
  get size(): number {
    return this.functions.starts.length;
  }

  /**
   * The virtual address a file offset is loaded at (what the symbol table
   * uses): `vaddr = fileOffset - p_offset + p_vaddr` for the PT_LOAD segment
   * holding that offset. Undefined if no segment maps it.
   */
  fileOffsetToVaddr(fileOffset: number): number | undefined {
    for (const s of this.segments) {
      if (fileOffset >= s.fileOffset && fileOffset < s.fileOffset + s.fileSize) return fileOffset - s.fileOffset + s.vaddr;
    }
    return undefined;
  }

  /** The function containing `vaddr`, or undefined if it falls before the first, past a sized function's end, or the table is empty. */
  lookup(vaddr: number): ElfSymbol | undefined {
    const { starts, sizes } = this.functions;
    const found = lastAtOrBelow(starts, vaddr);
    if (found < 0) return undefined;
    const offset = vaddr - starts[found]!;
    const size = sizes[found]!;
    // Gaps between sized functions are real (PLT stubs, padding, stripped statics): better unknown than misattributed.
    if (size > 0 && offset >= size) return undefined;
    return { name: this.nameAt(found), offset };
  }

  /** Decodes entry `i`'s name: from the restart point at or before it, applying each entry's suffix to the shared prefix. */
  private nameAt(i: number): string {
    const { names, nameIndex, maxNameBytes } = this.functions;
    if (nameScratch.length < maxNameBytes) nameScratch = Buffer.alloc(maxNameBytes);
    const scratch = nameScratch;
    let at = nameIndex[Math.floor(i / NAME_STRIDE)]!;
    let length = 0;
    for (let skip = i % NAME_STRIDE; ; skip--) {
      let shared = 0;
      for (let shift = 0; ; shift += 7) {
        const byte = names[at++]!;
        shared += (byte & 0x7f) * 2 ** shift;
        if (byte < 0x80) break;
      }
      length = shared;
      for (let byte = names[at++]!; byte !== 0; byte = names[at++]!) scratch[length++] = byte;
      if (skip === 0) break;
    }
    return scratch.toString("utf8", 0, length);
  }
}

/** Reads `length` bytes at `offset`; must return exactly that many or throw. */
type ReadAt = (offset: number, length: number) => Promise<Buffer>;

/**
 * Reads the function symbols of the ELF file at `path`. fs errors (ENOENT,
 * EACCES) reject as they are; a file that is not ELF64 little-endian, or is
 * truncated, rejects with {@link ElfFormatError}.
 */
export async function readElfSymbols(path: string): Promise<ElfSymbols> {
  const handle = await open(path, "r");
  try {
    const { size } = await handle.stat();
    const readAt: ReadAt = async (offset, length) => {
      const buf = Buffer.allocUnsafe(length);
      const { bytesRead } = await handle.read(buf, 0, length, offset);
      if (bytesRead !== length) throw new ElfFormatError(`short read of ${length} bytes at offset ${offset} (file changed while reading?)`, path);
      return buf;
    };
    return await parseElfSymbols(readAt, size, path);
  } finally {
    await handle.close();
  }
}

/** {@link readElfSymbols} for an image already in memory (the vDSO, read from /proc/PID/mem). */
export async function elfSymbolsFromBuffer(image: Buffer, name: string): Promise<ElfSymbols> {
  return parseElfSymbols(async (offset, length) => image.subarray(offset, offset + length), image.length, name);
}

interface SectionHeader {
  type: number;
  offset: number;
  size: number;
  link: number;
  info: number;
  entsize: number;
}

/** Throws if [offset, offset+length) is not inside the file. */
type Within = (offset: number, length: number, what: string) => void;

async function parseElfSymbols(readAt: ReadAt, fileSize: number, file: string): Promise<ElfSymbols> {
  const fail = (message: string): never => {
    throw new ElfFormatError(message, file);
  };
  const within: Within = (offset, length, what) => {
    if (offset + length > fileSize) fail(`${what} at offset ${offset} (+${length} bytes) extends past the end of the ${fileSize}-byte file (truncated?)`);
  };

  if (fileSize < EHDR_BYTES) fail(`${fileSize} bytes is too short for an ELF header (${EHDR_BYTES} bytes)`);
  const ehdr = await readAt(0, EHDR_BYTES);
  if (ehdr[0] !== 0x7f || ehdr[1] !== 0x45 || ehdr[2] !== 0x4c || ehdr[3] !== 0x46) {
    fail(`not an ELF file: magic is ${ehdr.subarray(0, 4).toString("hex")}, expected 7f454c46 ("\\x7fELF")`);
  }
  if (ehdr[4] !== ELFCLASS64) fail(`ELF class ${ehdr[4]} is not supported: expected ELFCLASS64 (2); 32-bit binaries are not read`);
  if (ehdr[5] !== ELFDATA2LSB) fail(`ELF data encoding ${ehdr[5]} is not supported: expected little-endian ELFDATA2LSB (1)`);

  const phoff = u64(ehdr, 32);
  const shoff = u64(ehdr, 40);
  const phentsize = ehdr.readUInt16LE(54);
  let phnum = ehdr.readUInt16LE(56);
  const shentsize = ehdr.readUInt16LE(58);
  let shnum = ehdr.readUInt16LE(60);

  // Section header 0 carries the real counts when they overflow 16 bits (extended numbering, elf(5)).
  let sections: SectionHeader[] = [];
  if (shoff !== 0) {
    if (shentsize !== SHDR_BYTES) fail(`e_shentsize is ${shentsize}, expected ${SHDR_BYTES}`);
    within(shoff, SHDR_BYTES, "section header table");
    const first = parseSectionHeader(await readAt(shoff, SHDR_BYTES), 0);
    if (shnum === 0) shnum = first.size;
    if (phnum === PN_XNUM) phnum = first.info;
    within(shoff, shnum * SHDR_BYTES, "section header table");
    const table = await readAt(shoff, shnum * SHDR_BYTES);
    sections = Array.from({ length: shnum }, (_, i) => parseSectionHeader(table, i * SHDR_BYTES));
  }

  const segments: LoadSegment[] = [];
  if (phoff !== 0 && phnum > 0) {
    if (phentsize !== PHDR_BYTES) fail(`e_phentsize is ${phentsize}, expected ${PHDR_BYTES}`);
    within(phoff, phnum * PHDR_BYTES, "program header table");
    const table = await readAt(phoff, phnum * PHDR_BYTES);
    for (let i = 0; i < phnum; i++) {
      const p = i * PHDR_BYTES;
      if (table.readUInt32LE(p) !== PT_LOAD) continue;
      segments.push({
        fileOffset: u64(table, p + 8),
        vaddr: u64(table, p + 16),
        fileSize: u64(table, p + 32),
        executable: (table.readUInt32LE(p + 4) & PF_X) !== 0,
      });
    }
  }

  // .symtab is a superset of .dynsym when present; stripped files keep only .dynsym.
  const symtab = sections.find((s) => s.type === SHT_SYMTAB);
  if (symtab) {
    const functions = await readFunctionSymbols(symtab, sections, readAt, within, file);
    if (functions.starts.length > 0) return new ElfSymbols(file, ".symtab", functions, segments);
  }
  const dynsym = sections.find((s) => s.type === SHT_DYNSYM);
  if (dynsym) return new ElfSymbols(file, ".dynsym", await readFunctionSymbols(dynsym, sections, readAt, within, file), segments);
  return new ElfSymbols(file, "none", EMPTY_TABLE, segments);
}

function parseSectionHeader(buf: Buffer, at: number): SectionHeader {
  return {
    type: buf.readUInt32LE(at + 4),
    offset: u64(buf, at + 24),
    size: u64(buf, at + 32),
    link: buf.readUInt32LE(at + 40),
    info: buf.readUInt32LE(at + 44),
    entsize: u64(buf, at + 56),
  };
}

/** Symbols read from the symbol table at a time, so that only its string table is ever held whole. */
const SYMBOL_CHUNK = 4096;

async function readFunctionSymbols(
  symtab: SectionHeader,
  sections: readonly SectionHeader[],
  readAt: ReadAt,
  within: Within,
  file: string,
): Promise<FunctionTable> {
  if (symtab.type === SHT_NOBITS || symtab.size === 0) return EMPTY_TABLE;
  if (symtab.entsize !== SYM_BYTES) throw new ElfFormatError(`symbol table entry size is ${symtab.entsize}, expected ${SYM_BYTES}`, file);
  const strtab = sections[symtab.link];
  if (!strtab) throw new ElfFormatError(`symbol table links to string table section ${symtab.link}, but there are ${sections.length} sections`, file);
  within(symtab.offset, symtab.size, "symbol table");
  within(strtab.offset, strtab.size, "string table");
  const strings = await readAt(strtab.offset, strtab.size);

  const count = Math.floor(symtab.size / SYM_BYTES);
  const found: Candidates = {
    count: 0,
    values: new Float64Array(count),
    sizes: new Float64Array(count),
    binds: new Uint8Array(count),
    nameStarts: new Uint32Array(count),
    nameEnds: new Uint32Array(count),
    strings,
  };
  for (let first = 0; first < count; first += SYMBOL_CHUNK) {
    const chunk = Math.min(SYMBOL_CHUNK, count - first);
    const syms = await readAt(symtab.offset + first * SYM_BYTES, chunk * SYM_BYTES);
    for (let i = 0; i < chunk; i++) {
      const at = i * SYM_BYTES;
      const info = syms[at + 4]!;
      const type = info & 0xf;
      if (type !== STT_FUNC && type !== STT_GNU_IFUNC) continue;
      // Undefined symbols are imports: their code lives in another object.
      if (syms.readUInt16LE(at + 6) === SHN_UNDEF) continue;
      const value = u64(syms, at + 8);
      if (value === 0) continue;
      const nameOffset = syms.readUInt32LE(at);
      if (nameOffset >= strings.length) continue;
      let end = strings.indexOf(0, nameOffset);
      if (end < 0) end = strings.length;
      if (end === nameOffset) continue;
      const n = found.count++;
      found.values[n] = value;
      found.sizes[n] = u64(syms, at + 16);
      found.binds[n] = info >> 4;
      found.nameStarts[n] = nameOffset;
      found.nameEnds[n] = end;
    }
  }
  return packFunctions(found);
}

/** The function symbols of one symbol table, in table order, with their names still in the string table. */
interface Candidates {
  count: number;
  values: Float64Array;
  sizes: Float64Array;
  binds: Uint8Array;
  /** The name of candidate `i` is `strings[nameStarts[i], nameEnds[i])`. */
  nameStarts: Uint32Array;
  nameEnds: Uint32Array;
  strings: Buffer;
}

/** Sorts the candidates by address, keeps the best-named of each address's aliases, and packs them into a {@link FunctionTable}. */
function packFunctions(c: Candidates): FunctionTable {
  const { values, sizes, nameStarts, nameEnds, strings } = c;
  // Equal addresses stay in symbol table order, so a tie between equally good aliases goes to the first.
  const order = new Uint32Array(c.count);
  let sorted = true;
  for (let i = 0; i < c.count; i++) {
    order[i] = i;
    if (i > 0 && values[i]! < values[i - 1]!) sorted = false;
  }
  if (!sorted) order.sort((a, b) => values[a]! - values[b]! || a - b);

  // One entry per address: order[0, kept).
  let kept = 0;
  for (let k = 0; k < c.count; k++) {
    const e = order[k]!;
    if (kept > 0 && values[order[kept - 1]!] === values[e]) {
      if (isBetterAlias(c, e, order[kept - 1]!)) order[kept - 1] = e;
    } else {
      order[kept++] = e;
    }
  }

  // Front-coded names: a first pass sizes the buffer, a second fills it.
  const shared = (k: number): number => {
    if (k % NAME_STRIDE === 0) return 0;
    const e = order[k]!;
    const previous = order[k - 1]!;
    return sharedPrefix(strings, nameStarts[previous]!, nameEnds[previous]!, nameStarts[e]!, nameEnds[e]!);
  };
  let namesLength = 0;
  let maxNameBytes = 0;
  for (let k = 0; k < kept; k++) {
    const length = nameEnds[order[k]!]! - nameStarts[order[k]!]!;
    const prefix = shared(k);
    namesLength += leb128Bytes(prefix) + length - prefix + 1;
    maxNameBytes = Math.max(maxNameBytes, length);
  }
  const table: FunctionTable = {
    starts: new Float64Array(kept),
    sizes: new Uint32Array(kept),
    names: Buffer.allocUnsafeSlow(namesLength),
    nameIndex: new Uint32Array(Math.ceil(kept / NAME_STRIDE)),
    maxNameBytes,
  };
  const names = table.names;
  let at = 0;
  for (let k = 0; k < kept; k++) {
    const e = order[k]!;
    table.starts[k] = values[e]!;
    table.sizes[k] = Math.min(sizes[e]!, 0xffff_ffff);
    if (k % NAME_STRIDE === 0) table.nameIndex[k / NAME_STRIDE] = at;
    const prefix = shared(k);
    let rest = prefix;
    do {
      const low = rest % 0x80;
      rest = Math.floor(rest / 0x80);
      names[at++] = rest > 0 ? low | 0x80 : low;
    } while (rest > 0);
    for (let from = nameStarts[e]! + prefix, to = nameEnds[e]!; from < to; from++) names[at++] = strings[from]!;
    names[at++] = 0;
  }
  return table;
}

/**
 * Whether candidate `e` is a better label than `other` at the same address
 * (e.g. `printf` over `_IO_printf`): perf's order — a recorded size, non-weak
 * before weak, global before local, fewer leading underscores, then the
 * longer name.
 */
function isBetterAlias(c: Candidates, e: number, other: number): boolean {
  const { sizes, binds, nameStarts, nameEnds, strings } = c;
  if ((sizes[e]! > 0) !== (sizes[other]! > 0)) return sizes[e]! > 0;
  const bind = binds[e]!;
  const otherBind = binds[other]!;
  if ((bind === STB_WEAK) !== (otherBind === STB_WEAK)) return otherBind === STB_WEAK;
  if ((bind === STB_LOCAL) !== (otherBind === STB_LOCAL)) return otherBind === STB_LOCAL;
  const underscores = leadingUnderscores(strings, nameStarts[e]!, nameEnds[e]!);
  const otherUnderscores = leadingUnderscores(strings, nameStarts[other]!, nameEnds[other]!);
  if (underscores !== otherUnderscores) return underscores < otherUnderscores;
  return decodedLength(strings, nameStarts[e]!, nameEnds[e]!) > decodedLength(strings, nameStarts[other]!, nameEnds[other]!);
}

/** How many leading bytes `buf[a, aEnd)` and `buf[b, bEnd)` share. */
function sharedPrefix(buf: Buffer, a: number, aEnd: number, b: number, bEnd: number): number {
  const max = Math.min(aEnd - a, bEnd - b);
  let n = 0;
  while (n < max && buf[a + n] === buf[b + n]) n++;
  return n;
}

/** Bytes `n` takes as unsigned LEB128. */
function leb128Bytes(n: number): number {
  let bytes = 1;
  for (let rest = Math.floor(n / 0x80); rest > 0; rest = Math.floor(rest / 0x80)) bytes++;
  return bytes;
}

/** The `_`s a name in `buf[from, to)` starts with (a UTF-8 sequence never holds the byte `_`). */
function leadingUnderscores(buf: Buffer, from: number, to: number): number {
  let at = from;
  while (at < to && buf[at] === 0x5f /* _ */) at++;
  return at - from;
}

/** The length of the name in `buf[from, to)` as a JS string: its byte count unless it is not ASCII. */
function decodedLength(buf: Buffer, from: number, to: number): number {
  for (let at = from; at < to; at++) if (buf[at]! >= 0x80) return buf.toString("utf8", from, to).length;
  return to - from;
}

/**
 * A u64 field as a number. Exact below 2^53, which every user-space address,
 * offset and size is; read as two u32 halves to avoid a BigInt per symbol.
 */
function u64(buf: Buffer, at: number): number {
  return buf.readUInt32LE(at) + buf.readUInt32LE(at + 4) * 0x1_0000_0000;
}
