import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { lastAtOrBelow } from "./sorted-search.ts";

/**
 * Kernel symbolization from /proc/kallsyms. The file lists every kernel symbol
 * as `ADDRESS TYPE NAME [MODULE]` with no sizes, so an address belongs to the
 * nearest text symbol at or below it.
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

/** Text symbol types: `t`/`T` (local/global code), `w`/`W` (weak code). Data and absolute symbols never appear in stacks. */
const TEXT_TYPES = new Set(["t", "T", "w", "W"]);

/**
 * The kernel's text symbols sorted by address, looked up by binary search.
 * Addresses are u64 above 2^53 (0xffffffff8…), so they stay bigints, kept in
 * one BigUint64Array rather than an array of boxed values.
 */
export class KernelSymbols {
  /** `addrs` ascending and distinct; `names[i]`/`modules[i]` belong to `addrs[i]`. Built by {@link parseKallsyms}. */
  constructor(
    private readonly addrs: BigUint64Array,
    private readonly names: readonly string[],
    private readonly modules: readonly (string | undefined)[],
    /** Set when no address can be resolved at all (kallsyms hidden or unreadable). */
    readonly unavailable?: string,
  ) {}

  /** A table that resolves nothing, saying why (e.g. `/proc/kallsyms unreadable: EACCES`). */
  static unresolvable(reason: string): KernelSymbols {
    return new KernelSymbols(new BigUint64Array(0), [], [], reason);
  }

  /** Number of distinct text addresses known. */
  get size(): number {
    return this.addrs.length;
  }

  /** The text symbol containing `ip`, or why there is none. */
  lookup(ip: bigint): KernelSymbol | Unresolved {
    if (this.unavailable !== undefined) return { unknown: this.unavailable };
    const addrs = this.addrs;
    const found = lastAtOrBelow(addrs, ip);
    if (found < 0) return { unknown: `0x${ip.toString(16)} is below the first kernel symbol` };
    const module = this.modules[found];
    const symbol: KernelSymbol = { name: this.names[found]!, offset: Number(ip - addrs[found]!) };
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
}

/**
 * Whether `name` is a better label than `otherName` for one address that has
 * several (aliases such as `__x64_sys_getpid`, `__ia32_sys_getpid`,
 * `__do_sys_getpid`). perf's order — non-weak before weak, global before local,
 * fewer leading underscores, then the longer name — with x86's 32-bit syscall
 * entry aliases ranked last.
 */
function isBetterAlias(type: string, name: string, otherType: string, otherName: string): boolean {
  const weak = type === "w" || type === "W";
  const otherWeak = otherType === "w" || otherType === "W";
  if (weak !== otherWeak) return otherWeak;
  const global = type === "T" || type === "W";
  const otherGlobal = otherType === "T" || otherType === "W";
  if (global !== otherGlobal) return global;
  // x86_64 wraps each syscall as both __x64_sys_* and __ia32_sys_*; 64-bit callers are the common case.
  const compat = name.startsWith("__ia32_");
  if (compat !== otherName.startsWith("__ia32_")) return !compat;
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
 * Parses /proc/kallsyms text. When every address reads as zero the kernel is
 * hiding them from us (`kernel.kptr_restrict`, or no CAP_SYSLOG), and the
 * result resolves nothing but says so.
 */
export function parseKallsyms(text: string): KernelSymbols {
  interface Entry {
    addr: bigint;
    type: string;
    name: string;
    module: string | undefined;
  }
  const entries: Entry[] = [];
  let sawAny = false;
  let sawNonZero = false;
  for (const line of text.split("\n")) {
    // `ffffffff81377cc0 T __x64_sys_getpid` or `ffffffffc0201000 t ftrace_trampoline\t[__builtin__ftrace]`
    const firstSpace = line.indexOf(" ");
    if (firstSpace <= 0 || line.charCodeAt(firstSpace + 2) !== 32) continue;
    const type = line[firstSpace + 1]!;
    sawAny = true;
    const hex = line.slice(0, firstSpace);
    const allZero = /^0+$/.test(hex);
    if (!allZero) sawNonZero = true;
    if (!TEXT_TYPES.has(type) || allZero) continue;
    const tab = line.indexOf("\t", firstSpace + 3);
    const name = tab < 0 ? line.slice(firstSpace + 3) : line.slice(firstSpace + 3, tab);
    let module: string | undefined;
    if (tab >= 0) {
      const m = /\[([^\]]+)\]/.exec(line.slice(tab));
      module = m?.[1];
    }
    entries.push({ addr: BigInt(`0x${hex}`), type, name, module });
  }
  if (sawAny && !sawNonZero) return KernelSymbols.unresolvable("kallsyms hidden (kptr_restrict)");
  if (entries.length === 0) return KernelSymbols.unresolvable("no text symbols in kallsyms");

  // The core kernel is listed in address order, modules and BPF programs are not.
  entries.sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0));
  const addrs: bigint[] = [];
  const names: string[] = [];
  const modules: (string | undefined)[] = [];
  const types: string[] = [];
  for (const e of entries) {
    const last = addrs.length - 1;
    if (last >= 0 && addrs[last] === e.addr) {
      if (isBetterAlias(e.type, e.name, types[last]!, names[last]!)) {
        names[last] = e.name;
        types[last] = e.type;
        modules[last] = e.module;
      }
      continue;
    }
    addrs.push(e.addr);
    names.push(e.name);
    types.push(e.type);
    modules.push(e.module);
  }
  return new KernelSymbols(BigUint64Array.from(addrs), names, modules);
}

/** Reads and parses kallsyms; an unreadable file yields a table that says why rather than throwing. */
export async function loadKallsyms(path = KALLSYMS_PATH): Promise<KernelSymbols> {
  let text: string;
  try {
    // latin1: symbol names are ASCII, and it decodes several MB faster than utf8.
    text = await readFile(path, "latin1");
  } catch (err) {
    return KernelSymbols.unresolvable(`${path} unreadable: ${errorCode(err)}`);
  }
  return parseKallsyms(text);
}

/** {@link loadKallsyms}, blocking: ~100 ms for 120k symbols. For a first lookup that cannot wait. */
export function loadKallsymsSync(path = KALLSYMS_PATH): KernelSymbols {
  let text: string;
  try {
    text = readFileSync(path, "latin1");
  } catch (err) {
    return KernelSymbols.unresolvable(`${path} unreadable: ${errorCode(err)}`);
  }
  return parseKallsyms(text);
}

/** The errno name of a Node fs error (`ENOENT`), or its message. */
export function errorCode(err: unknown): string {
  if (err && typeof err === "object" && "code" in err && typeof err.code === "string") return err.code;
  return err instanceof Error ? err.message : String(err);
}
