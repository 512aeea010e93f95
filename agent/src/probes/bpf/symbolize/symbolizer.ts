import { open, readlink, stat } from "node:fs/promises";
import path from "node:path";
import { ElfFormatError, elfSymbolsFromBuffer, readElfSymbols, type ElfSymbols } from "./elf-symbols.ts";
import { KALLSYMS_PATH, errorCode, loadKallsyms, loadKallsymsSync, type KernelSymbols, type Unresolved } from "./kallsyms.ts";
import { executableMappings, findMapping, isAnonymous, readProcMaps, type Mapping } from "./proc-maps.ts";

/**
 * Turns the instruction pointers of `cpu_profile` stacks into frame names.
 *
 * Frame names (one per instruction pointer, flamegraph-friendly: function-level,
 * no offsets, so every sample in a function merges into one frame):
 * - kernel: `do_sys_openat2`, or `nft_do_chain [nf_tables]` for a module
 *   (BPF programs show as `bpf_prog_…_name [bpf]`);
 * - user, main executable: `probepilot_busy_loop`;
 * - user, any other object: `printf [libc.so.6]` (the file's base name), `__vdso_clock_gettime [vdso]`;
 * - unresolved: `[unknown: why]`, e.g. `[unknown: no symbol in /usr/lib/x.so+0x1234]`
 *   (the address is the ELF virtual address, what `addr2line -e` takes),
 *   `[unknown: process exited]`, `[unknown: anonymous memory (JIT?)]`,
 *   `[unknown: kallsyms hidden (kptr_restrict)]`, `[unknown: /usr/bin/x unreadable: ENOENT]`.
 *
 * Names are not demangled (C++/Rust names stay `_ZN…`). A pid that exited
 * and was reused within the maps cache lifetime is symbolized against the new
 * process; nothing here can tell.
 */

export interface SymbolizerOptions {
  /**
   * How long a process's /proc/PID/maps is reused at most, in ms, for callers
   * that do not call {@link Symbolizer.endInterval} after each interval. Long
   * enough to serve one flush, short enough to see dlopen() and exec(). Default 10 000.
   */
  mapsTtlMs?: number;
  /** Processes whose maps are cached at once; the least recently used is dropped. Default 1024. */
  maxProcesses?: number;
  /** ELF symbol tables cached at once (LRU). node's alone is ~4.5 MB (78k functions), so keep this modest. Default 64. */
  maxElfFiles?: number;
  /** Re-read kallsyms when older than this (ms), so modules and BPF programs loaded since resolve. The reload is in the background. Default 300 000. */
  kallsymsMaxAgeMs?: number;
  /** Overridable for tests. */
  kallsymsPath?: string;
}

/** A Map used as an LRU: iteration order is insertion order, so the first key is the least recently used. */
class LruCache<K, V> {
  private readonly map = new Map<K, V>();
  constructor(private readonly capacity: number) {}

  get size(): number {
    return this.map.size;
  }

  get(key: K): V | undefined {
    const value = this.map.get(key);
    if (value !== undefined) {
      this.map.delete(key);
      this.map.set(key, value);
    }
    return value;
  }

  delete(key: K): void {
    this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
  }

  /** A snapshot, so entries may be deleted while iterating. */
  entries(): [K, V][] {
    return [...this.map.entries()];
  }

  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    while (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value as K);
  }
}

/** What one pid's address space looked like when read. */
interface ProcessImage {
  /** Executable mappings only, ascending. */
  code: Mapping[];
  /** /proc/PID/exe's target (mount-namespace path): mappings of this file are the main executable, named without a suffix. */
  exePath: string | undefined;
}

interface Timed<T> {
  at: number;
  value: Promise<T>;
}

/** `retryable`: the file could not be opened, which may not hold for the next process mapping it (this one exited, a mount came back). */
type ElfResult = ElfSymbols | (Unresolved & { retryable?: boolean });

interface CachedElf extends Timed<ElfResult> {
  /** Set once `value` settles as a retryable failure: such an entry is re-read after `mapsTtlMs`. */
  retryable: boolean;
}

export class Symbolizer {
  private readonly mapsTtlMs: number;
  private readonly kallsymsMaxAgeMs: number;
  private readonly kallsymsPath: string;
  private readonly processes: LruCache<number, Timed<ProcessImage | Unresolved>>;
  private readonly elfFiles: LruCache<string, CachedElf>;
  private kernel: KernelSymbols | undefined;
  private kernelLoadedAt = 0;
  private kernelReload: Promise<void> | undefined;

  constructor(options: SymbolizerOptions = {}) {
    this.mapsTtlMs = options.mapsTtlMs ?? 10_000;
    this.kallsymsMaxAgeMs = options.kallsymsMaxAgeMs ?? 300_000;
    this.kallsymsPath = options.kallsymsPath ?? KALLSYMS_PATH;
    this.processes = new LruCache(options.maxProcesses ?? 1024);
    this.elfFiles = new LruCache(options.maxElfFiles ?? 64);
  }

  /** {@link fold}, for callers holding a Symbolizer. */
  fold(kernelFrames: readonly string[], userFrames: readonly string[], comm: string): string {
    return fold(kernelFrames, userFrames, comm);
  }

  /**
   * Call after each profile interval's flush: forgets every process's maps so
   * the next interval reads them afresh (a process may have exec'd, dlopen'd
   * or exited, and its pid been reused), and ELF files that could not be opened.
   * Symbol tables of files that did open stay cached.
   */
  endInterval(): void {
    this.processes.clear();
    for (const [key, entry] of this.elfFiles.entries()) if (entry.retryable) this.elfFiles.delete(key);
  }

  /** Entries held now, to export as gauges and to see the bounds hold. */
  get cacheSizes(): { processes: number; elfFiles: number } {
    return { processes: this.processes.size, elfFiles: this.elfFiles.size };
  }

  /** Loads kallsyms ahead of the first {@link symbolizeKernel}, which would otherwise read it synchronously (~100 ms). */
  async preloadKernelSymbols(): Promise<void> {
    this.kernel = await loadKallsyms(this.kallsymsPath);
    this.kernelLoadedAt = Date.now();
  }

  /**
   * Names for a kernel stack, innermost first. `ips` as the stack map holds
   * them: innermost first, the first 0 ends the stack.
   */
  symbolizeKernel(ips: readonly bigint[]): string[] {
    const kernel = this.kernelSymbols();
    const frames: string[] = [];
    for (let i = 0; i < ips.length; i++) {
      const ip = ips[i]!;
      if (ip === 0n) break;
      const hit = kernel.lookup(callSite(ip, i));
      if ("unknown" in hit) frames.push(`[unknown: ${hit.unknown}]`);
      else frames.push(hit.module === undefined ? hit.name : `${hit.name} [${hit.module}]`);
    }
    return frames;
  }

  /** Names for a user stack of process `pid`, innermost first; `ips` as in {@link symbolizeKernel}. */
  async symbolizeUser(pid: number, ips: readonly bigint[]): Promise<string[]> {
    const end = ips.indexOf(0n);
    const stack = end < 0 ? ips : ips.slice(0, end);
    if (stack.length === 0) return [];
    const image = await this.processImage(pid);
    if ("unknown" in image) return stack.map(() => `[unknown: ${image.unknown}]`);
    const frames: string[] = [];
    for (let i = 0; i < stack.length; i++) frames.push(await this.userFrame(pid, image, callSite(stack[i]!, i)));
    return frames;
  }

  private async userFrame(pid: number, image: ProcessImage, ip: bigint): Promise<string> {
    const mapping = findMapping(image.code, ip);
    if (!mapping) return `[unknown: 0x${ip.toString(16)} not in an executable mapping]`;
    if (isAnonymous(mapping)) return "[unknown: anonymous memory (JIT?)]";
    if (mapping.path === "[vsyscall]") return "[vsyscall]";
    const vdso = mapping.path === "[vdso]";
    if (mapping.path.startsWith("[") && !vdso) return `[unknown: executing from ${mapping.path}]`;

    const elf = await this.elfFor(pid, mapping);
    if ("unknown" in elf) return `[unknown: ${elf.unknown}]`;
    const fileOffset = Number(ip - mapping.start + mapping.offset);
    const vaddr = elf.fileOffsetToVaddr(fileOffset);
    if (vaddr === undefined) return `[unknown: file offset 0x${fileOffset.toString(16)} of ${mapping.path} is in no PT_LOAD segment]`;
    const symbol = elf.lookup(vaddr);
    if (!symbol) return `[unknown: no symbol in ${mapping.path}+0x${vaddr.toString(16)}]`;
    if (vdso) return `${symbol.name} [vdso]`;
    return mapping.path === image.exePath ? symbol.name : `${symbol.name} [${path.basename(mapping.path)}]`;
  }

  private kernelSymbols(): KernelSymbols {
    const now = Date.now();
    if (!this.kernel) {
      this.kernel = loadKallsymsSync(this.kallsymsPath);
      this.kernelLoadedAt = now;
    } else if (now - this.kernelLoadedAt > this.kallsymsMaxAgeMs && !this.kernelReload) {
      // Keep answering from the old table while the new one loads.
      this.kernelReload = this.preloadKernelSymbols().finally(() => {
        this.kernelReload = undefined;
      });
    }
    return this.kernel;
  }

  private processImage(pid: number): Promise<ProcessImage | Unresolved> {
    const now = Date.now();
    const cached = this.processes.get(pid);
    if (cached && now - cached.at < this.mapsTtlMs) return cached.value;
    const value = readProcessImage(pid);
    this.processes.set(pid, { at: now, value });
    return value;
  }

  private elfFor(pid: number, mapping: Mapping): Promise<ElfResult> {
    // Every process shares the kernel's vDSO image; 32- and 64-bit ones differ in size.
    const key = mapping.path === "[vdso]" ? `[vdso]:${mapping.end - mapping.start}` : `${mapping.dev}:${mapping.inode}:${mapping.path}`;
    const now = Date.now();
    const cached = this.elfFiles.get(key);
    if (cached && !(cached.retryable && now - cached.at >= this.mapsTtlMs)) return cached.value;
    const entry: CachedElf = { at: now, value: mapping.path === "[vdso]" ? readVdso(pid, mapping) : readMappedElf(pid, mapping), retryable: false };
    void entry.value.then((result) => {
      entry.retryable = "unknown" in result && result.retryable === true;
    });
    this.elfFiles.set(key, entry);
    return entry.value;
  }
}

/**
 * Every frame but the innermost holds a return address: the instruction after
 * the call. Looking up `ip - 1` keeps a call that ends a function (a call to a
 * noreturn function) attributed to the caller, not to whatever follows it.
 */
function callSite(ip: bigint, depth: number): bigint {
  return depth === 0 ? ip : ip - 1n;
}

async function readProcessImage(pid: number): Promise<ProcessImage | Unresolved> {
  let maps: Mapping[];
  try {
    maps = await readProcMaps(pid);
  } catch (err) {
    const code = errorCode(err);
    if (code === "ENOENT" || code === "ESRCH") return { unknown: "process exited" };
    return { unknown: `/proc/${pid}/maps unreadable: ${code}` };
  }
  let exePath: string | undefined;
  try {
    exePath = (await readlink(`/proc/${pid}/exe`)).replace(/ \(deleted\)$/, "");
  } catch {
    // Kernel threads have no exe; every mapping is then named with its file.
  }
  return { code: executableMappings(maps), exePath };
}

/**
 * Opens the file behind a mapping the way the process sees it:
 * - `/proc/PID/root/<path>`: through the process's root, so a container's binaries resolve;
 * - `/proc/PID/map_files/<start>-<end>`: the mapped file itself, even if deleted or a memfd (needs CAP_SYS_ADMIN);
 * - `<path>` in our own namespace, only if its inode matches the mapping's (else it is some other file by that name).
 * A deleted file's path may now name its replacement (a package upgrade), so only map_files is tried for it.
 */
async function readMappedElf(pid: number, mapping: Mapping): Promise<ElfResult> {
  const mapFiles = `/proc/${pid}/map_files/${mapping.start.toString(16)}-${mapping.end.toString(16)}`;
  const candidates = mapping.deleted ? [mapFiles] : [`/proc/${pid}/root${mapping.path}`, mapFiles];
  let firstError: string | undefined;
  for (const file of candidates) {
    try {
      return await readElfSymbols(file);
    } catch (err) {
      if (err instanceof ElfFormatError) return { unknown: `${mapping.path}: ${err.detail}` };
      firstError ??= errorCode(err);
    }
  }
  if (!mapping.deleted) {
    try {
      const st = await stat(mapping.path, { bigint: true });
      if (st.ino.toString() === mapping.inode) return await readElfSymbols(mapping.path);
    } catch (err) {
      if (err instanceof ElfFormatError) return { unknown: `${mapping.path}: ${err.detail}` };
    }
  }
  return { unknown: `${mapping.path}${mapping.deleted ? " (deleted)" : ""} unreadable: ${firstError}`, retryable: true };
}

/** The vDSO has no file: its ELF image is read out of the process's memory. */
async function readVdso(pid: number, mapping: Mapping): Promise<ElfResult> {
  const length = Number(mapping.end - mapping.start);
  try {
    const handle = await open(`/proc/${pid}/mem`, "r");
    try {
      const image = Buffer.alloc(length);
      const { bytesRead } = await handle.read(image, 0, length, Number(mapping.start));
      return await elfSymbolsFromBuffer(image.subarray(0, bytesRead), "[vdso]");
    } finally {
      await handle.close();
    }
  } catch (err) {
    if (err instanceof ElfFormatError) return { unknown: err.message };
    return { unknown: `[vdso] unreadable: ${errorCode(err)}`, retryable: true };
  }
}

/** Folded stacks separate frames with ';' (and records with newlines), so neither may appear inside a frame. */
function foldSafe(frame: string): string {
  return frame.replace(/[;\n\r]/g, "_");
}

/**
 * One folded stack as flamegraph.pl / speedscope read it, root first:
 * `comm;user_outer;…;user_inner;kernel_outer;…;kernel_inner`. Both frame
 * lists are innermost first, as {@link Symbolizer} returns them. The sample
 * count (` 42`) is the caller's to append.
 */
export function fold(kernelFrames: readonly string[], userFrames: readonly string[], comm: string): string {
  const parts = [foldSafe(comm)];
  for (let i = userFrames.length - 1; i >= 0; i--) parts.push(foldSafe(userFrames[i]!));
  for (let i = kernelFrames.length - 1; i >= 0; i--) parts.push(foldSafe(kernelFrames[i]!));
  return parts.join(";");
}
