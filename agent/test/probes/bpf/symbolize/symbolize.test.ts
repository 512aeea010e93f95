import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { copyFile, mkdtemp, open, readFile, rm, unlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ElfFormatError, elfSymbolsFromBuffer, readElfSymbols } from "../../../../src/probes/bpf/symbolize/elf-symbols.ts";
import { loadKallsyms, loadKallsymsSync, parseKallsyms } from "../../../../src/probes/bpf/symbolize/kallsyms.ts";
import { executableMappings, findMapping, isAnonymous, parseProcMaps, readProcMaps, ProcMapsParseError } from "../../../../src/probes/bpf/symbolize/proc-maps.ts";
import { Symbolizer, fold } from "../../../../src/probes/bpf/symbolize/symbolizer.ts";
import { syscallName } from "../../../../src/probes/bpf/syscall-names.ts";

/**
 * Runs against this machine's real /proc and real ELF files: a tiny C program
 * is compiled with gcc, started, and asked to print where its functions live.
 */

const MARKER_PROGRAM = String.raw`
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

__attribute__((noinline)) void probepilot_marker(void) { __asm__ volatile(""); }

/* static: present in .symtab only, never in .dynsym */
static __attribute__((noinline)) int probepilot_static_helper(int x) { __asm__ volatile(""); return x * 3; }

int main(void) {
	/* executable anonymous memory, as a JIT would map it */
	void *jit = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	printf("%p %p %p %d\n", (void *)&probepilot_marker, (void *)&printf, jit, probepilot_static_helper(1));
	fflush(stdout);
	probepilot_marker();
	for (;;) pause();
}
`;

interface Marker {
  child: ChildProcess;
  pid: number;
  marker: bigint;
  printf: bigint;
  jit: bigint;
}

let dir: string;
let program: string;
const running: ChildProcess[] = [];

async function startMarker(binary: string): Promise<Marker> {
  const child = spawn(binary, [], { stdio: ["ignore", "pipe", "inherit"] });
  running.push(child);
  let out = "";
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (d: string) => (out += d));
  const deadline = Date.now() + 10_000;
  while (!out.includes("\n")) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`marker program printed nothing (exit ${child.exitCode})`);
    await new Promise((r) => setTimeout(r, 10));
  }
  const [marker, printf, jit] = out.trim().split(" ").map((hex) => BigInt(hex));
  return { child, pid: child.pid!, marker: marker!, printf: printf!, jit: jit! };
}

/** The st_value of a defined symbol, as binutils' nm reports it. */
function nmAddress(file: string, name: string, dynamic = false): number {
  const lines = execFileSync("nm", [...(dynamic ? ["-D"] : []), "--defined-only", file], { encoding: "utf8" }).split("\n");
  // nm -D appends symbol versions (`printf@@GLIBC_2.2.5`); the symbol table's name has none.
  const line = lines.find((l) => l.split(" ")[2]?.replace(/@.*/, "") === name);
  if (!line) throw new Error(`nm: no ${name} in ${file}`);
  return Number.parseInt(line.split(" ")[0]!, 16);
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "pp-symbolize-"));
  await writeFile(path.join(dir, "marker.c"), MARKER_PROGRAM);
  program = path.join(dir, "marker");
  execFileSync("gcc", ["-O1", "-fPIE", "-pie", "-o", program, path.join(dir, "marker.c")]);
});

afterAll(async () => {
  for (const child of running) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await rm(dir, { recursive: true, force: true });
});

describe("kallsyms", () => {
  const text = readFileSync("/proc/kallsyms", "latin1");
  /** Address of `name` and of the next text symbol above it. */
  function kernelSymbol(name: string): { addr: bigint; next: bigint } {
    const addrs = text
      .split("\n")
      .filter((l) => /^[0-9a-f]+ [tTwW] /.test(l))
      .map((l) => BigInt(`0x${l.slice(0, l.indexOf(" "))}`));
    const line = text.split("\n").find((l) => / [tT] /.test(l) && l.split(/\s/)[2] === name);
    if (!line) throw new Error(`${name} not in /proc/kallsyms`);
    const addr = BigInt(`0x${line.slice(0, line.indexOf(" "))}`);
    const next = addrs.filter((a) => a > addr).reduce((min, a) => (a < min ? a : min), 2n ** 64n - 1n);
    return { addr, next };
  }

  it("resolves a kernel function's own address to +0x0 and an address inside it to its offset", async () => {
    const table = await loadKallsyms();
    expect(table.size).toBeGreaterThan(10_000);
    const { addr, next } = kernelSymbol("do_sys_openat2");
    expect(table.describe(addr)).toBe("do_sys_openat2+0x0");
    const inside = next - addr > 0x10n ? 0x10n : next - addr - 1n;
    expect(table.describe(addr + inside)).toBe(`do_sys_openat2+0x${inside.toString(16)}`);
    expect(table.lookup(addr + inside)).toEqual({ name: "do_sys_openat2", offset: Number(inside) });
  });

  it("names an aliased syscall entry by its x86_64 name, not the ia32 or __do_ alias", async () => {
    const table = await loadKallsyms();
    const { addr } = kernelSymbol("__x64_sys_getpid");
    expect(table.describe(addr)).toBe("__x64_sys_getpid+0x0");
  });

  it("keeps text symbols only, sorts module symbols in, and reports the module", () => {
    const table = parseKallsyms(
      [
        "ffffffff81000000 T _stext",
        "ffffffff81000100 T alpha",
        "ffffffff81000100 t __alpha_alias",
        "ffffffff81000200 D some_data",
        "ffffffff81000300 W weak_fn",
        "ffffffffc0002000 t nft_do_chain\t[nf_tables]",
        "ffffffffc0001000 t bpf_prog_6deef7357e7b4530_probe\t[bpf]",
      ].join("\n"),
    );
    expect(table.describe(0xffffffff81000104n)).toBe("alpha+0x4");
    // Data symbols never split a function: 0x210 is still inside alpha's range.
    expect(table.describe(0xffffffff81000210n)).toBe("alpha+0x110");
    expect(table.describe(0xffffffffc0002008n)).toBe("nft_do_chain+0x8 [nf_tables]");
    expect(table.describe(0xffffffffc0001000n)).toBe("bpf_prog_6deef7357e7b4530_probe+0x0 [bpf]");
    expect(table.describe(0xffffffff80000000n)).toBe("[unknown: 0xffffffff80000000 is below the first kernel symbol]");
  });

  it("says kallsyms is hidden when every address reads as zero (kptr_restrict)", () => {
    const table = parseKallsyms("0000000000000000 T _stext\n0000000000000000 T do_sys_openat2\n");
    expect(table.unavailable).toBe("kallsyms hidden (kptr_restrict)");
    expect(table.describe(0xffffffff81000000n)).toBe("[unknown: kallsyms hidden (kptr_restrict)]");
  });

  it("says why when there is nothing to resolve with", () => {
    expect(parseKallsyms("").describe(0xffffffff81000000n)).toBe("[unknown: no text symbols in kallsyms]");
  });

  it("says why when the file cannot be read", async () => {
    const table = await loadKallsyms("/nonexistent/kallsyms");
    expect(table.describe(0xffffffff81000000n)).toBe("[unknown: /nonexistent/kallsyms unreadable: ENOENT]");
  });

  it("resolves across changes of the address's high 32 bits", () => {
    const table = parseKallsyms(
      [
        "00001000 T low32",
        "00000000fffff000 T below_4g",
        "0000000100000010 T above_4g",
        "ffff800008000000 T arm64_text",
        "ffffffff81000000 T x86_text",
      ].join("\n"),
    );
    expect(table.describe(0x1004n)).toBe("low32+0x4");
    // Below the first address of its high half: the last symbol of the half before.
    expect(table.describe(0x1_0000_0008n)).toBe("below_4g+0x1008");
    expect(table.describe(0x1_0000_0010n)).toBe("above_4g+0x0");
    // A high half with no symbol of its own: the last symbol below it.
    expect(table.describe(0x2_0000_0000n)).toBe("above_4g+0xfffffff0");
    expect(table.describe(0xffff_8000_0800_0abcn)).toBe("arm64_text+0xabc");
    expect(table.describe(0xffff_ffff_8100_0010n)).toBe("x86_text+0x10");
    expect(table.describe(0xfffn)).toBe("[unknown: 0xfff is below the first kernel symbol]");
  });

  it("keeps each symbol's module when modules interleave, and the first listed of equally good aliases", () => {
    const table = parseKallsyms(
      [
        "ffffffffc0003000 t third\t[mod_b]",
        "ffffffffc0001000 t first\t[mod_a]",
        "ffffffffc0002000 t second\t[mod_b]",
        "ffffffffc0004000 t fourth\t[mod_a]",
        "ffffffffc0004000 t fifth\t[mod_a]",
        "ffffffffc0005000 t core_after_modules",
      ].join("\n"),
    );
    expect(table.size).toBe(5);
    expect([0xffffffffc0001000n, 0xffffffffc0002000n, 0xffffffffc0003000n, 0xffffffffc0004000n, 0xffffffffc0005000n].map((a) => table.describe(a))).toEqual([
      "first+0x0 [mod_a]",
      "second+0x0 [mod_b]",
      "third+0x0 [mod_b]",
      "fourth+0x0 [mod_a]",
      "core_after_modules+0x0",
    ]);
  });

  it("reads a file in chunks: lines across chunk boundaries, a line longer than a chunk, no final newline", async () => {
    // ~50k symbols, ~2 MB: many read chunks, as /proc/kallsyms is.
    const lines: string[] = [];
    const expected: [bigint, string][] = [];
    for (let i = 0; i < 50_000; i++) {
      const addr = 0xffffffff81000000n + BigInt(i) * 0x40n;
      const name = `fn_${i}_${"x".repeat(i % 23)}`;
      const module = i % 7 === 0 ? `\t[mod_${i % 3}]` : "";
      lines.push(`${addr.toString(16)} ${i % 2 ? "t" : "T"} ${name}${module}`);
      if (i % 5 === 0) lines.push(`${addr.toString(16)} d data_${i}`);
      expected.push([addr + 0x3fn, `${name}+0x3f${module ? ` [mod_${i % 3}]` : ""}`]);
    }
    const longName = "l".repeat(300_000);
    lines.push(`ffffffffc0000000 t ${longName}`);
    expected.push([0xffffffffc0000001n, `${longName}+0x1`]);
    const fixture = path.join(dir, "kallsyms-large");
    await writeFile(fixture, lines.join("\n"));

    for (const table of [await loadKallsyms(fixture), loadKallsymsSync(fixture)]) {
      expect(table.size).toBe(50_001);
      const wrong = expected.filter(([addr, want]) => table.describe(addr) !== want);
      expect(wrong.slice(0, 3)).toEqual([]);
    }
  });

  it("reads the same table from /proc/kallsyms synchronously as asynchronously", async () => {
    const [a, b] = [await loadKallsyms(), loadKallsymsSync()];
    const { addr } = kernelSymbol("do_sys_openat2");
    expect(b.describe(addr + 1n)).toBe(a.describe(addr + 1n));
    // BPF programs may be loaded between the two reads, but the core kernel is fixed.
    expect(Math.abs(a.size - b.size)).toBeLessThan(1000);
  });
});

describe("proc maps", () => {
  const FIXTURE = [
    "55d0c1a00000-55d0c1a02000 r--p 00000000 fe:00 260131                     /usr/bin/my app",
    "55d0c1a02000-55d0c1a07000 r-xp 00002000 fe:00 260131                     /usr/bin/my app",
    "7f19ad3ad000-7f19ad503000 r-xp 00026000 fe:00 339380                     /usr/lib/x86_64-linux-gnu/libc.so.6 (deleted)",
    "7f19ad600000-7f19ad700000 rwxp 00000000 00:00 0 ",
    "7f19ad700000-7f19ad701000 r-xp 00000000 00:00 0                          [anon:v8 code]",
    "7ffd1b5f3000-7ffd1b5f5000 r-xp 00000000 00:00 0                          [vdso]",
    "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]",
    "",
  ].join("\n");

  it("parses paths with spaces, the deleted marker, anonymous and pseudo mappings", () => {
    const maps = parseProcMaps(FIXTURE);
    expect(maps).toHaveLength(7);
    expect(maps[1]).toEqual({
      start: 0x55d0c1a02000n,
      end: 0x55d0c1a07000n,
      perms: "r-xp",
      offset: 0x2000n,
      dev: "fe:00",
      inode: "260131",
      path: "/usr/bin/my app",
      deleted: false,
    });
    expect(maps[2]).toMatchObject({ path: "/usr/lib/x86_64-linux-gnu/libc.so.6", deleted: true });
    expect(isAnonymous(maps[3]!)).toBe(true);
    expect(isAnonymous(maps[4]!)).toBe(true);
    expect(maps[6]!.start).toBe(0xffffffffff600000n);
  });

  it("finds the executable mapping containing an address", () => {
    const code = executableMappings(parseProcMaps(FIXTURE));
    expect(code.map((m) => m.perms)).toEqual(["r-xp", "r-xp", "rwxp", "r-xp", "r-xp", "--xp"]);
    expect(findMapping(code, 0x55d0c1a02000n)?.path).toBe("/usr/bin/my app");
    expect(findMapping(code, 0x55d0c1a06fffn)?.path).toBe("/usr/bin/my app");
    expect(findMapping(code, 0x55d0c1a07000n)).toBeUndefined();
    // Readable-only code page of the same file is not a place code runs from.
    expect(findMapping(code, 0x55d0c1a00010n)).toBeUndefined();
    expect(findMapping(code, 0x7ffd1b5f3abcn)?.path).toBe("[vdso]");
  });

  it("rejects a malformed line with the line in the message", () => {
    expect(() => parseProcMaps("garbage line\n")).toThrow(ProcMapsParseError);
    expect(() => parseProcMaps("garbage line\n")).toThrow(/"garbage line"/);
  });

  it("reads this process's maps, which include node's executable code", async () => {
    const code = executableMappings(await readProcMaps(process.pid));
    const exe = execFileSync("readlink", [`/proc/${process.pid}/exe`], { encoding: "utf8" }).trim();
    expect(code.some((m) => m.path === exe)).toBe(true);
  });
});

describe("ELF symbols", () => {
  it("reads a stripped system binary: .dynsym only, with its load segments", async () => {
    const elf = await readElfSymbols("/bin/true");
    expect(elf.source).toBe(".dynsym");
    expect(elf.segments.some((s) => s.executable)).toBe(true);
    // A PIE's first segment maps file offset 0 at vaddr 0.
    expect(elf.fileOffsetToVaddr(0)).toBe(0);
  });

  it("reads a shared library's exported functions from .dynsym", async () => {
    const libc = execFileSync("sh", ["-c", `ldd /bin/true | awk '/libc.so/ {print $3}'`], { encoding: "utf8" }).trim();
    const elf = await readElfSymbols(libc);
    expect(elf.source).toBe(".dynsym");
    const printf = nmAddress(libc, "printf", true);
    expect(elf.lookup(printf)).toEqual({ name: "printf", offset: 0 });
    expect(elf.lookup(printf + 3)).toEqual({ name: "printf", offset: 3 });
  });

  it("reads an unstripped program's .symtab, static functions included", async () => {
    const elf = await readElfSymbols(program);
    expect(elf.source).toBe(".symtab");
    const marker = nmAddress(program, "probepilot_marker");
    expect(elf.lookup(marker)).toEqual({ name: "probepilot_marker", offset: 0 });
    const helper = nmAddress(program, "probepilot_static_helper");
    expect(elf.lookup(helper + 1)).toEqual({ name: "probepilot_static_helper", offset: 1 });
    // Below every function (the ELF header) there is nothing to name.
    expect(elf.lookup(0x10)).toBeUndefined();
  });

  it("names every function of a large binary as its symbol table does (names are stored front-coded)", async () => {
    const elf = await readElfSymbols(process.execPath);
    expect(elf.source).toBe(".symtab");
    // nm lists code symbols as T/t/W/w/i, functions and labels alike: each function's start is among them.
    const namesAt = new Map<number, string[]>();
    for (const line of execFileSync("nm", ["--defined-only", process.execPath], { encoding: "utf8", maxBuffer: 1 << 28 }).split("\n")) {
      const [hex, type, name] = line.split(" ");
      if (!name || !"TtWwi".includes(type!)) continue;
      const addr = Number.parseInt(hex!, 16);
      namesAt.set(addr, [...(namesAt.get(addr) ?? []), name]);
    }
    let starts = 0;
    const wrong: [number, string[], string][] = [];
    for (const [addr, names] of namesAt) {
      const hit = elf.lookup(addr);
      if (hit?.offset !== 0) continue;
      starts++;
      if (!names.includes(hit.name)) wrong.push([addr, names, hit.name]);
    }
    expect(wrong.slice(0, 3)).toEqual([]);
    expect(starts).toBe(elf.size);
  });

  it("decodes names that share long prefixes and non-ASCII names", async () => {
    const functions = Array.from({ length: 40 }, (_, i) => `probepilot_a_rather_long_shared_prefix_${i % 2 ? "odd" : "even"}_${i}`);
    functions.push("probepilot_café_λ");
    const source = [
      ...functions.map((f, i) => `__attribute__((noinline)) int ${f}(int x) { __asm__ volatile(""); return x + ${i}; }`),
      `int main(void) { return ${functions.map((f) => `${f}(1)`).join(" + ")}; }`,
    ].join("\n");
    await writeFile(path.join(dir, "prefixes.c"), source);
    const binary = path.join(dir, "prefixes");
    execFileSync("gcc", ["-O1", "-o", binary, path.join(dir, "prefixes.c")]);
    const elf = await readElfSymbols(binary);
    const nm = new Map(
      execFileSync("nm", ["--defined-only", binary], { encoding: "utf8" })
        .split("\n")
        .map((l) => l.split(" "))
        .map(([hex, , name]) => [name, Number.parseInt(hex!, 16)] as const),
    );
    for (const f of functions) expect(elf.lookup(nm.get(f)! + 2)).toEqual({ name: f, offset: 2 });
  });

  it("rejects what is not ELF64 little-endian, saying what was expected", async () => {
    const notElf = path.join(dir, "not-elf");
    await writeFile(notElf, "#!/bin/sh\necho this is a script, long enough to hold a header........................\n");
    await expect(readElfSymbols(notElf)).rejects.toThrow(/not an ELF file: magic is 23212f62, expected 7f454c46/);

    const header = Buffer.from(readFileSync(program).subarray(0, 64));
    header[4] = 1; // ELFCLASS32
    await expect(elfSymbolsFromBuffer(header, "x32")).rejects.toThrow(/expected ELFCLASS64/);
    header[4] = 2;
    header[5] = 2; // ELFDATA2MSB
    await expect(elfSymbolsFromBuffer(header, "be")).rejects.toThrow(/expected little-endian/);

    const truncated = readFileSync(program).subarray(0, 4096);
    const error = await elfSymbolsFromBuffer(truncated, "truncated").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ElfFormatError);
    expect((error as ElfFormatError).message).toMatch(/^truncated: section header table .* extends past the end of the 4096-byte file/);
  });

  it("fails with the fs error for a missing file", async () => {
    await expect(readElfSymbols("/nonexistent/lib.so")).rejects.toMatchObject({ code: "ENOENT" });
  });
});

describe("Symbolizer", () => {
  let marker: Marker;
  beforeAll(async () => {
    marker = await startMarker(program);
  });

  it("names a function of the main executable without a suffix", async () => {
    const symbolizer = new Symbolizer();
    expect(await symbolizer.symbolizeUser(marker.pid, [marker.marker])).toEqual(["probepilot_marker"]);
  });

  it("names a shared library function with the library's file name", async () => {
    const symbolizer = new Symbolizer();
    expect(await symbolizer.symbolizeUser(marker.pid, [marker.printf])).toEqual(["printf [libc.so.6]"]);
  });

  it("looks up return addresses at ip-1 and stops at the zero terminator", async () => {
    const symbolizer = new Symbolizer();
    // A return address just past probepilot_marker's first byte still belongs to it; ip-1 of its start would too.
    const frames = await symbolizer.symbolizeUser(marker.pid, [marker.printf, marker.marker + 1n, 0n, marker.printf]);
    expect(frames).toEqual(["printf [libc.so.6]", "probepilot_marker"]);
  });

  it("says why for anonymous executable memory and for unmapped addresses", async () => {
    const symbolizer = new Symbolizer();
    expect(await symbolizer.symbolizeUser(marker.pid, [marker.jit + 0x10n, 0x1000n])).toEqual([
      "[unknown: anonymous memory (JIT?)]",
      "[unknown: 0xfff not in an executable mapping]",
    ]);
  });

  it("resolves vDSO functions from the image in the process's memory", async () => {
    const vdso = parseProcMaps(await readFile(`/proc/${marker.pid}/maps`, "utf8")).find((m) => m.path === "[vdso]");
    if (!vdso) return; // a kernel without a vDSO
    const handle = await open(`/proc/${marker.pid}/mem`, "r");
    const image = Buffer.alloc(Number(vdso.end - vdso.start));
    await handle.read(image, 0, image.length, Number(vdso.start));
    await handle.close();
    const dumped = path.join(dir, "vdso.so");
    await writeFile(dumped, image);
    const gettime = nmAddress(dumped, "__vdso_clock_gettime", true);
    const symbolizer = new Symbolizer();
    expect(await symbolizer.symbolizeUser(marker.pid, [vdso.start + BigInt(gettime)])).toEqual(["__vdso_clock_gettime [vdso]"]);
  });

  it("says the process exited for a pid that is gone", async () => {
    const child = spawn("true");
    await once(child, "exit");
    const symbolizer = new Symbolizer();
    expect(await symbolizer.symbolizeUser(child.pid!, [0x401000n, 0x401100n])).toEqual(["[unknown: process exited]", "[unknown: process exited]"]);
  });

  it("still resolves a binary deleted after it started, through map_files", async () => {
    const copy = path.join(dir, "marker-deleted");
    await copyFile(program, copy);
    execFileSync("chmod", ["+x", copy]);
    const deleted = await startMarker(copy);
    await unlink(copy);
    const symbolizer = new Symbolizer();
    expect(await symbolizer.symbolizeUser(deleted.pid, [deleted.marker])).toEqual(["probepilot_marker"]);
    deleted.child.kill("SIGKILL");
  });

  it("names kernel frames, module frames in brackets, and says why kallsyms is unusable", async () => {
    const symbolizer = new Symbolizer();
    await symbolizer.preloadKernelSymbols();
    const line = readFileSync("/proc/kallsyms", "latin1")
      .split("\n")
      .find((l) => l.endsWith(" t do_sys_openat2") || l.endsWith(" T do_sys_openat2"))!;
    const openat2 = BigInt(`0x${line.slice(0, 16)}`);
    // The second frame is a return address: it is looked up at ip-1.
    expect(symbolizer.symbolizeKernel([openat2 + 4n, openat2 + 1n, 0n, 1n])).toEqual(["do_sys_openat2", "do_sys_openat2"]);

    const fixture = path.join(dir, "kallsyms");
    await writeFile(fixture, "ffffffff81000000 T _stext\nffffffffc0002000 t nft_do_chain\t[nf_tables]\n");
    expect(new Symbolizer({ kallsymsPath: fixture }).symbolizeKernel([0xffffffffc0002010n])).toEqual(["nft_do_chain [nf_tables]"]);
    await writeFile(fixture, "0000000000000000 T _stext\n0000000000000000 T do_sys_openat2\n");
    expect(new Symbolizer({ kallsymsPath: fixture }).symbolizeKernel([0xffffffff81000000n])).toEqual(["[unknown: kallsyms hidden (kptr_restrict)]"]);
  });

  it("keeps its caches within the configured bounds", async () => {
    const symbolizer = new Symbolizer({ maxProcesses: 1, maxElfFiles: 1 });
    await symbolizer.symbolizeUser(marker.pid, [marker.marker, marker.printf]);
    await symbolizer.symbolizeUser(process.pid, [0x1000n]);
    expect(symbolizer.cacheSizes).toEqual({ processes: 1, elfFiles: 1 });
  });

  it("forgets process maps at the end of an interval but keeps symbol tables", async () => {
    const symbolizer = new Symbolizer();
    await symbolizer.symbolizeUser(marker.pid, [marker.marker, marker.printf]);
    expect(symbolizer.cacheSizes).toEqual({ processes: 1, elfFiles: 2 });
    symbolizer.endInterval();
    expect(symbolizer.cacheSizes).toEqual({ processes: 0, elfFiles: 2 });
    expect(symbolizer.fold(["k"], await symbolizer.symbolizeUser(marker.pid, [marker.marker]), "marker")).toBe("marker;probepilot_marker;k");
  });
});

describe("fold", () => {
  it("puts the root first: comm, user outermost→innermost, then kernel outermost→innermost", () => {
    expect(fold(["k_inner", "k_outer"], ["u_inner", "u_outer"], "worker")).toBe("worker;u_outer;u_inner;k_outer;k_inner");
    expect(fold([], [], "idle")).toBe("idle");
  });

  it("keeps ';' and newlines out of frames so the folded line stays parseable", () => {
    expect(fold(["a;b"], [], "my;comm\n")).toBe("my_comm_;a_b");
  });
});

describe("syscall names", () => {
  it("names x86_64 and arm64 syscalls and falls back to sys_<nr>", () => {
    expect(syscallName(39, "x64")).toBe("getpid");
    expect(syscallName(0, "x64")).toBe("read");
    expect(syscallName(172, "arm64")).toBe("getpid");
    expect(syscallName(56, "aarch64")).toBe("openat");
    expect(syscallName(99_999, "x64")).toBe("sys_99999");
    expect(syscallName(39, "riscv64")).toBe("sys_39");
  });

  it("defaults to this machine's architecture", () => {
    if (process.arch === "x64") expect(syscallName(39)).toBe("getpid");
    if (process.arch === "arm64") expect(syscallName(172)).toBe("getpid");
  });
});
