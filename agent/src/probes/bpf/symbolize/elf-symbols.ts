import { open } from "node:fs/promises";
import { lastAtOrBelow } from "./sorted-search.ts";

/**
 * A minimal ELF64 little-endian reader: just enough to map a file offset to a
 * virtual address (PT_LOAD program headers) and a virtual address to the
 * function containing it (.symtab, else .dynsym). Only the headers and the
 * symbol and string sections are read, at their offsets: a binary like node is
 * ~100 MB, its symbols ~10 MB.
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

/** Function symbols of one ELF file, sorted by address, plus its load segments. */
export class ElfSymbols {
  constructor(
    readonly file: string,
    readonly source: SymbolSource,
    /** Ascending, distinct. */
    private readonly starts: Float64Array,
    /** 0 when the symbol has no recorded size (hand-written assembly): it then extends to the next symbol. */
    private readonly sizes: Float64Array,
    private readonly names: readonly string[],
    readonly segments: readonly LoadSegment[],
  ) {}

  /** Number of function symbols. */
  get size(): number {
    return this.starts.length;
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
    const starts = this.starts;
    const found = lastAtOrBelow(starts, vaddr);
    if (found < 0) return undefined;
    const offset = vaddr - starts[found]!;
    const size = this.sizes[found]!;
    // Gaps between sized functions are real (PLT stubs, padding, stripped statics): better unknown than misattributed.
    if (size > 0 && offset >= size) return undefined;
    return { name: this.names[found]!, offset };
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
    const symbols = await readFunctionSymbols(symtab, sections, readAt, within, file);
    if (symbols.starts.length > 0) return new ElfSymbols(file, ".symtab", symbols.starts, symbols.sizes, symbols.names, segments);
  }
  const dynsym = sections.find((s) => s.type === SHT_DYNSYM);
  if (dynsym) {
    const symbols = await readFunctionSymbols(dynsym, sections, readAt, within, file);
    return new ElfSymbols(file, ".dynsym", symbols.starts, symbols.sizes, symbols.names, segments);
  }
  return new ElfSymbols(file, "none", new Float64Array(0), new Float64Array(0), [], segments);
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

async function readFunctionSymbols(
  symtab: SectionHeader,
  sections: readonly SectionHeader[],
  readAt: ReadAt,
  within: Within,
  file: string,
): Promise<{ starts: Float64Array; sizes: Float64Array; names: string[] }> {
  if (symtab.type === SHT_NOBITS || symtab.size === 0) return { starts: new Float64Array(0), sizes: new Float64Array(0), names: [] };
  if (symtab.entsize !== SYM_BYTES) throw new ElfFormatError(`symbol table entry size is ${symtab.entsize}, expected ${SYM_BYTES}`, file);
  const strtab = sections[symtab.link];
  if (!strtab) throw new ElfFormatError(`symbol table links to string table section ${symtab.link}, but there are ${sections.length} sections`, file);
  within(symtab.offset, symtab.size, "symbol table");
  within(strtab.offset, strtab.size, "string table");
  const syms = await readAt(symtab.offset, symtab.size);
  const strings = await readAt(strtab.offset, strtab.size);

  const values: number[] = [];
  const sizes: number[] = [];
  const names: string[] = [];
  const binds: number[] = [];
  const count = Math.floor(symtab.size / SYM_BYTES);
  for (let i = 0; i < count; i++) {
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
    values.push(value);
    sizes.push(u64(syms, at + 16));
    names.push(strings.toString("utf8", nameOffset, end));
    binds.push(info >> 4);
  }

  const order = Array.from(values.keys()).sort((a, b) => values[a]! - values[b]!);
  const outStarts: number[] = [];
  const outSizes: number[] = [];
  const outNames: string[] = [];
  const outBinds: number[] = [];
  for (const i of order) {
    const last = outStarts.length - 1;
    if (last >= 0 && outStarts[last] === values[i]) {
      if (isBetterAlias(sizes[i]!, binds[i]!, names[i]!, outSizes[last]!, outBinds[last]!, outNames[last]!)) {
        outSizes[last] = sizes[i]!;
        outBinds[last] = binds[i]!;
        outNames[last] = names[i]!;
      }
      continue;
    }
    outStarts.push(values[i]!);
    outSizes.push(sizes[i]!);
    outNames.push(names[i]!);
    outBinds.push(binds[i]!);
  }
  return { starts: Float64Array.from(outStarts), sizes: Float64Array.from(outSizes), names: outNames };
}

/**
 * Whether the first of two functions at one address is the better label (e.g.
 * `printf` over `_IO_printf`): perf's order — a recorded size, non-weak before
 * weak, global before local, fewer leading underscores, then the longer name.
 */
function isBetterAlias(size: number, bind: number, name: string, otherSize: number, otherBind: number, otherName: string): boolean {
  if ((size > 0) !== (otherSize > 0)) return size > 0;
  if ((bind === STB_WEAK) !== (otherBind === STB_WEAK)) return otherBind === STB_WEAK;
  if ((bind === STB_LOCAL) !== (otherBind === STB_LOCAL)) return otherBind === STB_LOCAL;
  const underscores = leadingUnderscores(name);
  const otherUnderscores = leadingUnderscores(otherName);
  if (underscores !== otherUnderscores) return underscores < otherUnderscores;
  return name.length > otherName.length;
}

function leadingUnderscores(name: string): number {
  let n = 0;
  while (name.charCodeAt(n) === 95 /* _ */) n++;
  return n;
}

/**
 * A u64 field as a number. Exact below 2^53, which every user-space address,
 * offset and size is; read as two u32 halves to avoid a BigInt per symbol.
 */
function u64(buf: Buffer, at: number): number {
  return buf.readUInt32LE(at) + buf.readUInt32LE(at + 4) * 0x1_0000_0000;
}
