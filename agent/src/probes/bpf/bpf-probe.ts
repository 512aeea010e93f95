import type { MetricSeries, ProbeCost, ProbeKind, ProbeParams } from "@probepilot/shared";
import type { Logger } from "../../logger.ts";
import type { TelemetryContent } from "../../telemetry/telemetry-content.ts";
import type { MapDump } from "./frames.ts";
import { LoaderProcess, type LoaderArgs, type LoaderInterval, type LoaderReady } from "./loader-process.ts";

/** Converts the kernel's CLOCK_MONOTONIC nanoseconds to unix milliseconds. */
export type KernelClock = { toUnixMs(monotonicNs: number): number };

/** Turns one probe's loader output into telemetry. */
export interface ProbeDecoder {
  onEvent?(map: string, record: Buffer, clock: KernelClock): void;
  onMapDump?(map: string, dump: MapDump, clock: KernelClock): void;
  /** Called after each loader interval's dumps: what to send for the interval that ended at `at` (unix ms). */
  flush(at: number): TelemetryContent | Promise<TelemetryContent>;
}

/** One documented output of a probe (docs/probes.md is generated from these). */
export type ProbeOutput = {
  name: string;
  type: "counter" | "gauge" | "histogram" | "event" | "profile";
  unit?: string;
  /** Series labels, or event attributes. */
  labels: readonly string[];
  help: string;
};

export type LoaderPlan = Omit<LoaderArgs, "binary" | "object">;

/** What a decoder may need from the agent. */
export type DecoderDeps = { log: Logger };

/** Everything that makes an eBPF probe kind: its kernel hooks, how to load it, and how to read it. */
export type BpfProbeDefinition<K extends ProbeKind = ProbeKind> = {
  kind: K;
  /** Tracepoints the probe attaches to, as `category/name`: each must exist for the probe to run. */
  tracepoints: readonly string[];
  /** Whether it samples through perf events (needs perf_event_open). */
  perfEvent?: boolean;
  outputs: readonly ProbeOutput[];
  /** Loader arguments for these parameters; `knobs` carries resolved filter values (cgroup id). */
  plan(params: ProbeParams[K], knobs: ResolvedFilters): LoaderPlan;
  decoder(params: ProbeParams[K], deps: DecoderDeps): ProbeDecoder;
};

/** The standard filters as rodata knob values (bpf/include/pp_common.bpf.h). */
export type ResolvedFilters = { targ_pid?: number; targ_comm?: string; targ_cgroup?: bigint };

export function filterKnobs(filters: ResolvedFilters): Record<string, string | number | bigint> {
  const set: Record<string, string | number | bigint> = {};
  if (filters.targ_pid !== undefined) set.targ_pid = filters.targ_pid;
  if (filters.targ_comm !== undefined) set.targ_comm = filters.targ_comm;
  if (filters.targ_cgroup !== undefined) set.targ_cgroup = filters.targ_cgroup;
  return set;
}

export type BpfProbeOptions = {
  kind: ProbeKind;
  loaderBinary: string;
  object: string;
  plan: LoaderPlan;
  decoder: ProbeDecoder;
  emit: (content: TelemetryContent) => void;
  /** The loader died after it was running: the supervisor restarts the probe. */
  fail: (err: Error) => void;
  reportError: (err: Error) => void;
  onCost?: (cost: ProbeCost) => void;
  log: Logger;
};

/**
 * A running eBPF probe: its `ppbpf` loader child, the decoder fed by the
 * loader's frames, and the probe's own cost measured from the loader's
 * interval reports (BPF program run time, the loader's CPU and memory).
 */
export class BpfProbe {
  private readonly loader: LoaderProcess;
  private offsetMs = 0;
  private lastInterval: LoaderInterval | null = null;
  private latestCost: ProbeCost | undefined;
  /** Intervals are flushed in order even when a decoder's flush is async (symbolization). */
  private flushing: Promise<void> = Promise.resolve();
  private readonly clock: KernelClock = { toUnixMs: (ns) => Math.round(ns / 1e6 + this.offsetMs) };
  private closed = false;
  private costSentAt = 0;

  constructor(private readonly opts: BpfProbeOptions) {
    this.loader = new LoaderProcess(
      { binary: opts.loaderBinary, object: opts.object, ...opts.plan },
      {
        onReady: (ready) => this.setClock(ready.clock),
        onEvent: (map, record) => this.guard(() => opts.decoder.onEvent?.(map, record, this.clock)),
        onMapDump: (map, dump) => this.guard(() => opts.decoder.onMapDump?.(map, dump, this.clock)),
        onInterval: (interval) => this.onInterval(interval),
        onExit: (err) => {
          if (!this.closed) opts.fail(err);
        },
        onWarning: (err) => opts.reportError(err),
      },
    );
  }

  start(): Promise<LoaderReady> {
    return this.loader.start();
  }

  /**
   * Stop the loader (it drains its ring buffers on the way out), then send what
   * arrived since its last interval: a stop or a restart loses nothing already read.
   */
  async close(): Promise<void> {
    if (this.closed) return this.flushing;
    this.closed = true;
    await this.loader.stop();
    if (this.loader.readyInfo) this.flush(Date.now(), undefined);
    await this.flushing;
  }

  get cost(): ProbeCost | undefined {
    return this.latestCost;
  }

  get loaderPid(): number | undefined {
    return this.loader.pid;
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.opts.reportError(err as Error);
    }
  }

  private setClock(clock: { monotonicNs: number; realtimeNs: number }): void {
    this.offsetMs = (clock.realtimeNs - clock.monotonicNs) / 1e6;
  }

  private onInterval(interval: LoaderInterval): void {
    this.setClock(interval);
    const at = Math.round(interval.realtimeNs / 1e6);
    const cost = this.measureCost(interval, at);
    // The status and /metrics get every measurement; the telemetry stream one per COST_SERIES_EVERY_MS,
    // so that an idle probe does not publish a batch every interval just to say what it costs.
    const sendCost = cost !== undefined && at - this.costSentAt >= COST_SERIES_EVERY_MS;
    if (sendCost) this.costSentAt = at;
    this.flush(at, sendCost ? cost : undefined);
  }

  /**
   * Take the decoder's output for the interval ending at `at` now — before the
   * next interval's frames can reach the decoder — and send it in order after
   * the previous intervals' (a decoder's flush may be async: symbolization).
   */
  private flush(at: number, cost: ProbeCost | undefined): void {
    let content: ReturnType<ProbeDecoder["flush"]>;
    try {
      content = this.opts.decoder.flush(at);
    } catch (err) {
      this.opts.reportError(err as Error);
      return;
    }
    const pending = Promise.resolve(content);
    pending.catch(() => {}); // handled in order below; this only keeps it from counting as unhandled meanwhile
    this.flushing = this.flushing.then(async () => {
      try {
        const done = await pending;
        const series = [...(done.series ?? []), ...(cost ? costSeries(this.opts.kind, cost) : [])];
        this.opts.emit({ ...done, series });
      } catch (err) {
        this.opts.reportError(err as Error);
      }
    });
  }

  private measureCost(interval: LoaderInterval, at: number): ProbeCost | undefined {
    const previous = this.lastInterval;
    this.lastInterval = interval;
    const kernelTimeNs = interval.programs.reduce((sum, p) => sum + p.runTimeNs, 0);
    const kernelRunCount = interval.programs.reduce((sum, p) => sum + p.runCount, 0);
    if (!previous) return undefined;
    const elapsedNs = interval.monotonicNs - previous.monotonicNs;
    if (elapsedNs <= 0) return undefined;
    const previousKernelNs = previous.programs.reduce((sum, p) => sum + p.runTimeNs, 0);
    const loaderCpuUs = interval.cpuUserUs + interval.cpuSystemUs - (previous.cpuUserUs + previous.cpuSystemUs);
    this.latestCost = {
      kernelTimeNs,
      kernelRunCount,
      kernelCpuPercent: round3(((kernelTimeNs - previousKernelNs) / elapsedNs) * 100),
      loaderCpuPercent: round3(((loaderCpuUs * 1000) / elapsedNs) * 100),
      loaderRssBytes: interval.rssKb * 1024,
      at,
    };
    this.opts.onCost?.(this.latestCost);
    return this.latestCost;
  }
}

/** How often the cost series go into the telemetry stream (a dashboard's resolution for them). */
export const COST_SERIES_EVERY_MS = 10_000;

const round3 = (n: number) => Math.round(Math.max(0, n) * 1000) / 1000;

/** Outputs every eBPF probe has, from its cost measurement. */
export const COST_OUTPUTS: readonly ProbeOutput[] = [
  { name: "probepilot_probe_kernel_cpu_percent", type: "gauge", unit: "percent", labels: ["probe"], help: "CPU the probe's BPF programs took in the kernel over the last interval, in % of one core (BPF run-time statistics)." },
  { name: "probepilot_probe_kernel_runs_total", type: "counter", unit: "runs", labels: ["probe"], help: "Times the probe's BPF programs ran since it was loaded." },
  { name: "probepilot_probe_loader_cpu_percent", type: "gauge", unit: "percent", labels: ["probe"], help: "CPU the probe's ppbpf loader process used over the last interval, in % of one core." },
  { name: "probepilot_probe_loader_rss_bytes", type: "gauge", unit: "bytes", labels: ["probe"], help: "Resident memory of the probe's ppbpf loader process." },
];

function costSeries(probe: ProbeKind, cost: ProbeCost): MetricSeries[] {
  const labels = { probe };
  return [
    { metric: "probepilot_probe_kernel_cpu_percent", kind: "gauge", unit: "percent", labels, points: [[cost.at, cost.kernelCpuPercent]] },
    { metric: "probepilot_probe_kernel_runs_total", kind: "counter", unit: "runs", labels, points: [[cost.at, cost.kernelRunCount]] },
    { metric: "probepilot_probe_loader_cpu_percent", kind: "gauge", unit: "percent", labels, points: [[cost.at, cost.loaderCpuPercent]] },
    { metric: "probepilot_probe_loader_rss_bytes", kind: "gauge", unit: "bytes", labels, points: [[cost.at, cost.loaderRssBytes]] },
  ];
}
