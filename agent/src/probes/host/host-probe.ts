import { performance } from "node:perf_hooks";
import type { MetricKind, MetricSeries } from "@probepilot/shared";
import { sanitizeLabelValue, LABEL_VALUE_MAX_LENGTH } from "../../host/host-facts.ts";
import {
  CPU_MODES,
  USER_HZ,
  memoryUsedBytes,
  readDiskstats,
  readLoadavg,
  readMeminfo,
  readNetDev,
  readProcStat,
  type CpuTimes,
  type DiskStats,
  type LoadAvg,
  type MemInfo,
  type NetDevStats,
  type ProcStat,
} from "./procfs.ts";

/** Documentation of one metric the `host` probe emits (feeds the docs and the metrics catalog). */
export interface HostProbeOutput {
  metric: string;
  kind: MetricKind;
  unit: string;
  /** Label keys every series of this metric carries (values listed in `help` when they are a fixed set). */
  labels: readonly string[];
  help: string;
}

/**
 * Every metric the `host` probe emits. The probe builds its series from this
 * table (kind and unit are looked up here), so the catalog cannot drift from the output.
 */
export const HOST_PROBE_OUTPUTS = [
  {
    metric: "host_cpu_utilization",
    kind: "gauge",
    unit: "ratio",
    labels: ["mode"],
    help: "Share of all CPUs' time spent in each mode over the last interval (0..1); mode is user|nice|system|idle|iowait|irq|softirq|steal and the modes sum to 1.",
  },
  {
    metric: "host_cpu_utilization_total",
    kind: "gauge",
    unit: "ratio",
    labels: [],
    help: "Busy share of all CPUs over the last interval (0..1): every mode except idle and iowait.",
  },
  {
    metric: "host_cpu_seconds_total",
    kind: "counter",
    unit: "seconds",
    labels: ["mode"],
    help: "CPU time since boot summed over all CPUs, per mode (/proc/stat jiffies / USER_HZ).",
  },
  {
    metric: "host_memory_bytes",
    kind: "gauge",
    unit: "bytes",
    labels: ["state"],
    help: "Physical memory by state: total|free|available|buffers|cached|used (used = total - available, as procps-ng free).",
  },
  {
    metric: "host_swap_bytes",
    kind: "gauge",
    unit: "bytes",
    labels: ["state"],
    help: "Swap space by state: total|free|used.",
  },
  { metric: "host_load1", kind: "gauge", unit: "tasks", labels: [], help: "1-minute load average (runnable plus uninterruptible tasks)." },
  { metric: "host_load5", kind: "gauge", unit: "tasks", labels: [], help: "5-minute load average." },
  { metric: "host_load15", kind: "gauge", unit: "tasks", labels: [], help: "15-minute load average." },
  {
    metric: "host_disk_read_bytes_total",
    kind: "counter",
    unit: "bytes",
    labels: ["device"],
    help: "Bytes read from a whole block device since boot (diskstats sectors x 512).",
  },
  {
    metric: "host_disk_written_bytes_total",
    kind: "counter",
    unit: "bytes",
    labels: ["device"],
    help: "Bytes written to a whole block device since boot (diskstats sectors x 512).",
  },
  { metric: "host_disk_reads_total", kind: "counter", unit: "ops", labels: ["device"], help: "Reads completed by a block device since boot." },
  { metric: "host_disk_writes_total", kind: "counter", unit: "ops", labels: ["device"], help: "Writes completed by a block device since boot." },
  {
    metric: "host_disk_io_time_seconds_total",
    kind: "counter",
    unit: "seconds",
    labels: ["device"],
    help: "Time the device had I/O in flight since boot; its rate is the device's utilization.",
  },
  {
    metric: "host_network_receive_bytes_total",
    kind: "counter",
    unit: "bytes",
    labels: ["interface"],
    help: "Bytes received by a network interface (in the agent's network namespace) since it appeared.",
  },
  {
    metric: "host_network_transmit_bytes_total",
    kind: "counter",
    unit: "bytes",
    labels: ["interface"],
    help: "Bytes transmitted by a network interface since it appeared.",
  },
  {
    metric: "host_network_receive_packets_total",
    kind: "counter",
    unit: "packets",
    labels: ["interface"],
    help: "Packets received by a network interface.",
  },
  {
    metric: "host_network_transmit_packets_total",
    kind: "counter",
    unit: "packets",
    labels: ["interface"],
    help: "Packets transmitted by a network interface.",
  },
  {
    metric: "host_network_receive_errors_total",
    kind: "counter",
    unit: "errors",
    labels: ["interface"],
    help: "Receive errors reported by a network interface's driver.",
  },
  {
    metric: "host_network_transmit_errors_total",
    kind: "counter",
    unit: "errors",
    labels: ["interface"],
    help: "Transmit errors reported by a network interface's driver.",
  },
  {
    metric: "host_network_receive_drops_total",
    kind: "counter",
    unit: "packets",
    labels: ["interface"],
    help: "Received packets dropped (no buffer space, unknown protocol, …).",
  },
  {
    metric: "host_network_transmit_drops_total",
    kind: "counter",
    unit: "packets",
    labels: ["interface"],
    help: "Packets dropped on transmit.",
  },
] as const satisfies readonly HostProbeOutput[];

/** Name of a metric the `host` probe emits. */
export type HostProbeMetric = (typeof HOST_PROBE_OUTPUTS)[number]["metric"];

const OUTPUT_BY_METRIC: ReadonlyMap<string, HostProbeOutput> = new Map(HOST_PROBE_OUTPUTS.map((o) => [o.metric, o]));

/** Which procfs file a {@link HostProbeReadError} is about. */
export type HostProbeSource = "stat" | "meminfo" | "diskstats" | "net/dev" | "loadavg" | "onSeries";

/** One source failed during a snapshot; the other sources were still reported. */
export class HostProbeReadError extends Error {
  override name = "HostProbeReadError";
  constructor(
    readonly source: HostProbeSource,
    options: { cause: unknown },
  ) {
    const why = options.cause instanceof Error ? options.cause.message : String(options.cause);
    super(source === "onSeries" ? `host probe: onSeries callback threw: ${why}` : `host probe: reading ${source} failed: ${why}`, options);
  }
}

export interface HostProbeOptions {
  /** Time between snapshots. Default 1000 ms. */
  intervalMs?: number;
  /** Receives one snapshot per interval. Never called after `close()` has been called. */
  onSeries: (series: MetricSeries[]) => void;
  /** Receives per-source read/parse failures (and onSeries exceptions); the probe keeps running. */
  onError?: (err: HostProbeReadError) => void;
  /** Wall clock for point timestamps, in Unix milliseconds. Default `Date.now`. */
  now?: () => number;
  /** procfs root, for tests. Default "/proc". */
  procRoot?: string;
  /** sysfs root (for the /sys/block whole-device list), for tests. Default "/sys". */
  sysRoot?: string;
}

/**
 * Schedules tick `index` at `startedAt + index * intervalMs` (monotonic clock),
 * so lateness of one tick does not shift the following ones (no drift). A tick
 * whose slot has already passed is skipped rather than run in a burst, and the
 * index always advances so an early-firing timer cannot run a slot twice.
 */
export function nextTick(startedAt: number, intervalMs: number, nowMono: number, lastIndex: number): { index: number; delayMs: number } {
  const due = Math.floor((nowMono - startedAt) / intervalMs) + 1;
  const index = Math.max(lastIndex + 1, due);
  return { index, delayMs: Math.max(0, startedAt + index * intervalMs - nowMono) };
}

/**
 * CPU mode ratios between two /proc/stat samples. Negative deltas are clamped
 * to 0: idle and iowait are known to go backwards on NO_HZ kernels, and a
 * clamped mode keeps the ratios in [0, 1] and summing to 1. Returns undefined
 * when no tick elapsed (nothing to divide by).
 */
export function cpuUtilization(prev: CpuTimes, cur: CpuTimes): Record<keyof CpuTimes, number> | undefined {
  const deltas = CPU_MODES.map((mode) => Math.max(0, cur[mode] - prev[mode]));
  const total = deltas.reduce((a, b) => a + b, 0);
  if (total <= 0) return undefined;
  return Object.fromEntries(CPU_MODES.map((mode, i) => [mode, deltas[i]! / total])) as Record<keyof CpuTimes, number>;
}

/**
 * Maps raw names (devices, interfaces) to label values that are valid and
 * distinct: sanitizing can merge names (`a/b` and `a_b`) and a series must not
 * share its labels with another, so later duplicates get a `_2`, `_3`… suffix.
 */
export function uniqueLabelValues(names: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  const used = new Set<string>();
  for (const name of names) {
    if (out.has(name)) continue;
    const base = sanitizeLabelValue(name) || "unnamed";
    let value = base;
    for (let n = 2; used.has(value); n++) {
      const suffix = `_${n}`;
      value = base.slice(0, LABEL_VALUE_MAX_LENGTH - suffix.length).replace(/[^A-Za-z0-9]+$/, "") + suffix;
    }
    used.add(value);
    out.set(name, value);
  }
  return out;
}

/**
 * The built-in procfs `host` probe: CPU, memory, load, disk and network
 * figures every interval, without eBPF (it is also the baseline when eBPF is
 * unavailable). A probe is a unit with `start()`/`close()`.
 */
export class HostProbe {
  readonly #intervalMs: number;
  readonly #onSeries: HostProbeOptions["onSeries"];
  readonly #onError: HostProbeOptions["onError"];
  readonly #now: () => number;
  readonly #procRoot: string;
  readonly #sysRoot: string;

  #state: "new" | "running" | "closed" = "new";
  #startPromise: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #inflight: Promise<void> | undefined;
  #startedAt = 0;
  #lastIndex = 0;
  #prevCpu: CpuTimes | undefined;
  #snapshots = 0;
  #errors = 0;

  constructor(opts: HostProbeOptions) {
    const intervalMs = opts.intervalMs ?? 1000;
    if (!Number.isFinite(intervalMs) || intervalMs <= 0) {
      throw new RangeError(`HostProbe: intervalMs must be a positive number of milliseconds, got ${intervalMs}`);
    }
    this.#intervalMs = intervalMs;
    this.#onSeries = opts.onSeries;
    this.#onError = opts.onError;
    this.#now = opts.now ?? Date.now;
    this.#procRoot = opts.procRoot ?? "/proc";
    this.#sysRoot = opts.sysRoot ?? "/sys";
  }

  /** Snapshots emitted and errors reported so far (visible even without an `onError`). */
  get stats(): { snapshots: number; errors: number } {
    return { snapshots: this.#snapshots, errors: this.#errors };
  }

  /**
   * Takes a CPU baseline (so the first snapshot already has utilization over a
   * full interval) and schedules snapshots every `intervalMs`; the first one
   * comes one interval after start. Idempotent; rejects after `close()`.
   */
  start(): Promise<void> {
    if (this.#state === "closed") return Promise.reject(new Error("HostProbe: start() called after close(); create a new probe"));
    this.#startPromise ??= this.#doStart();
    return this.#startPromise;
  }

  async #doStart(): Promise<void> {
    this.#state = "running";
    const baseline = await this.#read("stat", () => readProcStat(this.#procRoot));
    if (this.#state !== "running") return; // closed while reading the baseline
    this.#prevCpu = baseline?.total;
    this.#startedAt = performance.now();
    this.#lastIndex = 0;
    this.#schedule();
  }

  /**
   * Stops the probe: clears the timer and waits for a snapshot in progress.
   * No `onSeries` call happens once `close()` has been called.
   */
  async close(): Promise<void> {
    this.#state = "closed";
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    // start() may still be reading its baseline; it checks the state before scheduling.
    await this.#startPromise?.catch(() => undefined);
    await this.#inflight;
  }

  #schedule(): void {
    const { index, delayMs } = nextTick(this.#startedAt, this.#intervalMs, performance.now(), this.#lastIndex);
    this.#lastIndex = index;
    // Not unref'd on purpose: a running probe is a reason for the process to stay alive; close() clears it.
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#inflight = this.#tick().finally(() => {
        this.#inflight = undefined;
        if (this.#state === "running") this.#schedule();
      });
    }, delayMs);
  }

  async #tick(): Promise<void> {
    const at = Math.round(this.#now());
    const [stat, mem, disks, nets, load] = await Promise.all([
      this.#read("stat", () => readProcStat(this.#procRoot)),
      this.#read("meminfo", () => readMeminfo(this.#procRoot)),
      this.#read("diskstats", () => readDiskstats(this.#procRoot, this.#sysRoot)),
      this.#read("net/dev", () => readNetDev(this.#procRoot)),
      this.#read("loadavg", () => readLoadavg(this.#procRoot)),
    ]);
    if (this.#state !== "running") return;

    const series = buildSnapshot(at, { stat, prevCpu: this.#prevCpu, mem, disks, nets, load });
    if (stat) this.#prevCpu = stat.total;
    if (series.length === 0) return;
    this.#snapshots++;
    try {
      this.#onSeries(series);
    } catch (cause) {
      this.#report(new HostProbeReadError("onSeries", { cause }));
    }
  }

  /** Runs one source read; a failure is reported and yields undefined so the other sources still count. */
  async #read<T>(source: HostProbeSource, fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await fn();
    } catch (cause) {
      if (this.#state === "running") this.#report(new HostProbeReadError(source, { cause }));
      return undefined;
    }
  }

  #report(err: HostProbeReadError): void {
    this.#errors++;
    try {
      this.#onError?.(err);
    } catch {
      // An error handler that throws has nowhere left to report to; the count above still shows it.
    }
  }
}

/** What one snapshot is built from; an undefined source failed to read and is left out. */
export interface HostSnapshotInput {
  stat?: ProcStat | undefined;
  /** The previous aggregate CPU sample, for utilization; undefined on the first sample. */
  prevCpu?: CpuTimes | undefined;
  mem?: MemInfo | undefined;
  disks?: DiskStats[] | undefined;
  nets?: NetDevStats[] | undefined;
  load?: LoadAvg | undefined;
}

/** Builds the `MetricSeries[]` of one snapshot, all points at `at`. Pure, so it is testable without timers. */
export function buildSnapshot(at: number, input: HostSnapshotInput): MetricSeries[] {
  const out: MetricSeries[] = [];
  const push = (metric: HostProbeMetric, labels: Record<string, string>, value: number): void => {
    const def = OUTPUT_BY_METRIC.get(metric)!;
    out.push({ metric, kind: def.kind, unit: def.unit, labels, points: [[at, value]] });
  };

  if (input.stat) {
    const cur = input.stat.total;
    const util = input.prevCpu ? cpuUtilization(input.prevCpu, cur) : undefined;
    if (util) {
      for (const mode of CPU_MODES) push("host_cpu_utilization", { mode }, util[mode]);
      // Clamped because 1 - idle - iowait in floating point can land a hair outside [0, 1].
      push("host_cpu_utilization_total", {}, Math.min(1, Math.max(0, 1 - util.idle - util.iowait)));
    }
    // /proc/stat counts in USER_HZ (100/s) ticks whatever the kernel HZ, so /100 gives seconds.
    for (const mode of CPU_MODES) push("host_cpu_seconds_total", { mode }, cur[mode] / USER_HZ);
  }

  if (input.mem) {
    const m = input.mem;
    push("host_memory_bytes", { state: "total" }, m.memTotal);
    push("host_memory_bytes", { state: "free" }, m.memFree);
    if (m.memAvailable !== undefined) push("host_memory_bytes", { state: "available" }, m.memAvailable);
    push("host_memory_bytes", { state: "buffers" }, m.buffers);
    push("host_memory_bytes", { state: "cached" }, m.cached);
    push("host_memory_bytes", { state: "used" }, memoryUsedBytes(m));
    push("host_swap_bytes", { state: "total" }, m.swapTotal);
    push("host_swap_bytes", { state: "free" }, m.swapFree);
    push("host_swap_bytes", { state: "used" }, Math.max(0, m.swapTotal - m.swapFree));
  }

  if (input.load) {
    push("host_load1", {}, input.load.load1);
    push("host_load5", {}, input.load.load5);
    push("host_load15", {}, input.load.load15);
  }

  if (input.disks) {
    const names = uniqueLabelValues(input.disks.map((d) => d.device));
    for (const d of input.disks) {
      const labels = { device: names.get(d.device)! };
      push("host_disk_read_bytes_total", labels, d.readBytes);
      push("host_disk_written_bytes_total", labels, d.writtenBytes);
      push("host_disk_reads_total", labels, d.readsCompleted);
      push("host_disk_writes_total", labels, d.writesCompleted);
      push("host_disk_io_time_seconds_total", labels, d.ioTimeMs / 1000);
    }
  }

  if (input.nets) {
    const names = uniqueLabelValues(input.nets.map((n) => n.interface));
    for (const n of input.nets) {
      const labels = { interface: names.get(n.interface)! };
      push("host_network_receive_bytes_total", labels, n.rxBytes);
      push("host_network_transmit_bytes_total", labels, n.txBytes);
      push("host_network_receive_packets_total", labels, n.rxPackets);
      push("host_network_transmit_packets_total", labels, n.txPackets);
      push("host_network_receive_errors_total", labels, n.rxErrors);
      push("host_network_transmit_errors_total", labels, n.txErrors);
      push("host_network_receive_drops_total", labels, n.rxDrops);
      push("host_network_transmit_drops_total", labels, n.txDrops);
    }
  }
  return out;
}
