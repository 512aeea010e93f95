import { readFile, readdir } from "node:fs/promises";
import path from "node:path";

/**
 * Parsers for the procfs files the `host` probe reads, plus thin readers.
 * Parsers take file *text* so they can be tested against fixtures; readers
 * take the procfs root so tests can point them at a fixture tree.
 */

/** A procfs file did not have the shape we expect. Carries the file path and the offending line. */
export class ProcfsParseError extends Error {
  override name = "ProcfsParseError";
  constructor(
    message: string,
    readonly file: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}: ${message}`, options);
  }
}

/**
 * /proc/stat reports times in USER_HZ ticks, which is 100 on every Linux
 * architecture: it is part of the userspace ABI (`sysconf(_SC_CLK_TCK)`),
 * independent of the kernel's internal CONFIG_HZ.
 */
export const USER_HZ = 100;

/** /proc/diskstats counts sectors of 512 bytes whatever the device's real sector size (Documentation/admin-guide/iostats.rst). */
export const DISKSTATS_SECTOR_BYTES = 512;

/** CPU time split by mode, in USER_HZ ticks (jiffies), as in a `cpu` line of /proc/stat. */
export interface CpuTimes {
  user: number;
  nice: number;
  system: number;
  idle: number;
  iowait: number;
  irq: number;
  softirq: number;
  steal: number;
}

/** The modes of {@link CpuTimes}, in /proc/stat column order. */
export const CPU_MODES = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"] as const satisfies readonly (keyof CpuTimes)[];
export type CpuMode = (typeof CPU_MODES)[number];

export interface ProcStat {
  /** The aggregate `cpu` line: the sum over all CPUs. */
  total: CpuTimes;
  /** One entry per `cpuN` line (offline CPUs have no line, so `cpu` numbers can have gaps). */
  perCpu: Array<{ cpu: number; times: CpuTimes }>;
}

/**
 * Parses /proc/stat. Only the cpu lines are read. `guest` and `guest_nice`
 * (columns 9–10) are ignored on purpose: the kernel already counts guest time in
 * `user`/`nice`, so adding them would count it twice. Kernels before 2.6.11 lack
 * `steal` (and older ones `iowait`/`irq`/`softirq`); missing columns read as 0.
 */
export function parseProcStat(text: string, file = "/proc/stat"): ProcStat {
  let total: CpuTimes | undefined;
  const perCpu: ProcStat["perCpu"] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("cpu")) continue;
    const fields = line.trim().split(/\s+/);
    const name = fields[0]!;
    const values = fields.slice(1, 1 + CPU_MODES.length).map(Number);
    if (values.length < 4 || values.some((v) => !Number.isFinite(v) || v < 0)) {
      throw new ProcfsParseError(`malformed cpu line ${JSON.stringify(line)}: expected at least 4 non-negative numbers`, file);
    }
    const times = Object.fromEntries(CPU_MODES.map((mode, i) => [mode, values[i] ?? 0])) as unknown as CpuTimes;
    if (name === "cpu") {
      total = times;
    } else {
      const cpu = Number(name.slice(3));
      if (!Number.isInteger(cpu)) throw new ProcfsParseError(`unexpected cpu line name ${JSON.stringify(name)}`, file);
      perCpu.push({ cpu, times });
    }
  }
  if (!total) throw new ProcfsParseError('no aggregate "cpu" line', file);
  return { total, perCpu };
}

/** The memory figures the `host` probe reports, in bytes. */
export interface MemInfo {
  memTotal: number;
  memFree: number;
  /** Absent on kernels before 3.14, which lack `MemAvailable`. */
  memAvailable?: number;
  buffers: number;
  cached: number;
  swapTotal: number;
  swapFree: number;
}

/**
 * Parses /proc/meminfo into a map of field → bytes. Fields in `kB` (which the
 * kernel means as KiB) are multiplied by 1024; unit-less fields (HugePages_*) are counts.
 */
export function parseMeminfoFields(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    // Lines of an unknown shape are skipped rather than fatal: a future kernel adding an
    // odd field must not take all memory metrics down; parseMeminfo checks the fields it needs.
    const m = /^([^:]+):\s+(\d+)(?:\s+(kB))?\s*$/.exec(line);
    if (!m) continue;
    const value = Number(m[2]);
    out.set(m[1]!, m[3] === "kB" ? value * 1024 : value);
  }
  return out;
}

/** Parses /proc/meminfo into {@link MemInfo}; throws if a required field is missing. */
export function parseMeminfo(text: string, file = "/proc/meminfo"): MemInfo {
  const fields = parseMeminfoFields(text);
  const need = (name: string): number => {
    const v = fields.get(name);
    if (v === undefined) throw new ProcfsParseError(`missing field "${name}"`, file);
    return v;
  };
  const info: MemInfo = {
    memTotal: need("MemTotal"),
    memFree: need("MemFree"),
    buffers: need("Buffers"),
    cached: need("Cached"),
    // Kernels built without swap support still print these as 0, but be lenient.
    swapTotal: fields.get("SwapTotal") ?? 0,
    swapFree: fields.get("SwapFree") ?? 0,
  };
  const available = fields.get("MemAvailable");
  if (available !== undefined) info.memAvailable = available;
  return info;
}

/**
 * "Used" memory as procps-ng ≥ 4 `free` computes it: total − available, because
 * reclaimable caches are not really used. Without MemAvailable (kernels < 3.14)
 * falls back to the classic total − free − buffers − cached. Never negative.
 */
export function memoryUsedBytes(m: MemInfo): number {
  const used = m.memAvailable !== undefined ? m.memTotal - m.memAvailable : m.memTotal - m.memFree - m.buffers - m.cached;
  return Math.max(0, used);
}

/** One /proc/diskstats line (the fields the probe uses). */
export interface DiskStats {
  major: number;
  minor: number;
  device: string;
  readsCompleted: number;
  /** Sectors × 512, see {@link DISKSTATS_SECTOR_BYTES}. */
  readBytes: number;
  writesCompleted: number;
  writtenBytes: number;
  /** Milliseconds the device had I/O in flight ("io_ticks"). */
  ioTimeMs: number;
}

/**
 * Parses /proc/diskstats. Lines with fewer than the 14 fields every kernel since
 * 2.6.25 prints (old kernels printed 7-field partition lines) are skipped.
 */
export function parseDiskstats(text: string, file = "/proc/diskstats"): DiskStats[] {
  const out: DiskStats[] = [];
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 14) continue;
    const n = (i: number): number => {
      const v = Number(f[i]);
      if (!Number.isFinite(v) || v < 0) throw new ProcfsParseError(`malformed field ${i + 1} in ${JSON.stringify(line)}`, file);
      return v;
    };
    // Columns (iostats.rst): 1 major, 2 minor, 3 name, 4 reads completed, 5 reads merged,
    // 6 sectors read, 7 ms reading, 8 writes completed, 9 writes merged, 10 sectors written,
    // 11 ms writing, 12 I/Os in progress, 13 ms doing I/O, 14 weighted ms; then discard/flush.
    out.push({
      major: n(0),
      minor: n(1),
      device: f[2]!,
      readsCompleted: n(3),
      readBytes: n(5) * DISKSTATS_SECTOR_BYTES,
      writesCompleted: n(7),
      writtenBytes: n(9) * DISKSTATS_SECTOR_BYTES,
      ioTimeMs: n(12),
    });
  }
  return out;
}

/** Devices that exist by the dozen on many hosts and only matter once they do I/O. */
const IDLE_SKIPPABLE_PREFIXES = ["loop", "ram", "zram", "nbd"];

/**
 * Picks the devices the probe reports: whole devices only (those listed in
 * /sys/block — partitions are not, and their I/O is already in the parent's
 * counters), minus loop/ram/zram/nbd devices that never did any I/O.
 *
 * `blockDevices` are /sys/block entry names, where the kernel writes `/` in a
 * device name as `!` (e.g. `cciss!c0d0` for diskstats' `cciss/c0d0`). When it is
 * undefined (sysfs unreadable) no partition filtering is done.
 */
export function selectWholeDisks(stats: DiskStats[], blockDevices: ReadonlySet<string> | undefined): DiskStats[] {
  return stats.filter((d) => {
    if (blockDevices && !blockDevices.has(d.device.replaceAll("/", "!"))) return false;
    const idle = d.readsCompleted === 0 && d.writesCompleted === 0 && d.ioTimeMs === 0;
    return !(idle && IDLE_SKIPPABLE_PREFIXES.some((p) => d.device.startsWith(p)));
  });
}

/** Per-interface counters from /proc/net/dev. */
export interface NetDevStats {
  interface: string;
  rxBytes: number;
  rxPackets: number;
  rxErrors: number;
  rxDrops: number;
  txBytes: number;
  txPackets: number;
  txErrors: number;
  txDrops: number;
}

/**
 * Parses /proc/net/dev. Splits at the first `:` rather than on whitespace
 * because old kernels print no space between the name and a wide rx_bytes
 * (`eth0:123456789…`); `:` cannot occur in interface names (dev_valid_name).
 */
export function parseNetDev(text: string, file = "/proc/net/dev"): NetDevStats[] {
  const out: NetDevStats[] = [];
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    // The two header lines contain `|` and no `:`.
    if (colon < 0 || line.includes("|")) continue;
    const name = line.slice(0, colon).trim();
    const v = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    if (name === "" || v.length < 16 || v.some((x) => !Number.isFinite(x) || x < 0)) {
      throw new ProcfsParseError(`malformed line ${JSON.stringify(line)}: expected "<iface>: " and 16 counters`, file);
    }
    // Receive: bytes packets errs drop fifo frame compressed multicast; Transmit: bytes packets errs drop fifo colls carrier compressed.
    out.push({
      interface: name,
      rxBytes: v[0]!,
      rxPackets: v[1]!,
      rxErrors: v[2]!,
      rxDrops: v[3]!,
      txBytes: v[8]!,
      txPackets: v[9]!,
      txErrors: v[10]!,
      txDrops: v[11]!,
    });
  }
  return out;
}

/** /proc/loadavg: 1/5/15-minute load averages and the task counts. */
export interface LoadAvg {
  load1: number;
  load5: number;
  load15: number;
  /** Currently runnable scheduling entities. */
  running: number;
  /** Scheduling entities (tasks) that exist. */
  total: number;
}

export function parseLoadavg(text: string, file = "/proc/loadavg"): LoadAvg {
  const m = /^\s*(\d+(?:\.\d+)?)\s+(\d+(?:\.\d+)?)\s+(\d+(?:\.\d+)?)\s+(\d+)\/(\d+)/.exec(text);
  if (!m) throw new ProcfsParseError(`malformed content ${JSON.stringify(text.trim())}: expected "l1 l5 l15 running/total lastpid"`, file);
  return { load1: Number(m[1]), load5: Number(m[2]), load15: Number(m[3]), running: Number(m[4]), total: Number(m[5]) };
}

async function readProcText(procRoot: string, rel: string): Promise<{ text: string; file: string }> {
  const file = path.join(procRoot, rel);
  return { text: await readFile(file, "utf8"), file };
}

/** Reads and parses `<procRoot>/stat`. */
export async function readProcStat(procRoot = "/proc"): Promise<ProcStat> {
  const { text, file } = await readProcText(procRoot, "stat");
  return parseProcStat(text, file);
}

/** Reads and parses `<procRoot>/meminfo`. */
export async function readMeminfo(procRoot = "/proc"): Promise<MemInfo> {
  const { text, file } = await readProcText(procRoot, "meminfo");
  return parseMeminfo(text, file);
}

/**
 * Reads `<procRoot>/diskstats` and keeps whole devices per {@link selectWholeDisks}.
 * An unreadable `<sysRoot>/block` disables the partition filter instead of failing.
 */
export async function readDiskstats(procRoot = "/proc", sysRoot = "/sys"): Promise<DiskStats[]> {
  const { text, file } = await readProcText(procRoot, "diskstats");
  const blockDevices = await readdir(path.join(sysRoot, "block")).then(
    (names) => new Set(names),
    () => undefined,
  );
  return selectWholeDisks(parseDiskstats(text, file), blockDevices);
}

/** Reads and parses `<procRoot>/net/dev` (the agent's network namespace). */
export async function readNetDev(procRoot = "/proc"): Promise<NetDevStats[]> {
  const { text, file } = await readProcText(procRoot, "net/dev");
  return parseNetDev(text, file);
}

/** Reads and parses `<procRoot>/loadavg`. */
export async function readLoadavg(procRoot = "/proc"): Promise<LoadAvg> {
  const { text, file } = await readProcText(procRoot, "loadavg");
  return parseLoadavg(text, file);
}
