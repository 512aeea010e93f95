import { z } from "zod";
import { PROBE_PARAMS_MAX_COUNT, PROBE_PARAM_NAME_MAX_LENGTH, PROBE_PATH_MAX_BYTES, boundedRecord, tooMany } from "./limits.ts";

/**
 * The built-in probe catalog (brief, "Probes"). `host` is procfs-based and is the
 * baseline when eBPF is unavailable; the others are CO-RE eBPF programs on
 * tracepoints and perf events (bpf/probes/<kind>.bpf.c). Their outputs are
 * documented in docs/probes.md.
 */
export const PROBE_KINDS = [
  "host",
  "tcp_flows",
  "tcp_connect_latency",
  "tcp_retransmits",
  "runqueue_latency",
  "block_io_latency",
  "cpu_profile",
  "process_exec",
  "process_exit",
  "file_open",
  "oom_kills",
  "syscall_counts",
] as const;
export const ProbeKindSchema = z.enum(PROBE_KINDS);
export type ProbeKind = z.infer<typeof ProbeKindSchema>;

/**
 * What an agent runs without any policy: the procfs baseline and the eBPF probes
 * cheap enough to leave on everywhere. `file_open` and `syscall_counts` sit on
 * hot paths (every open, every syscall) and are meant for targeted rollouts with
 * a pid, comm or cgroup filter, so they are opt-in.
 */
export const OPT_IN_PROBE_KINDS: readonly ProbeKind[] = ["file_open", "syscall_counts"];
export const DEFAULT_PROBE_KINDS: readonly ProbeKind[] = PROBE_KINDS.filter((kind) => !OPT_IN_PROBE_KINDS.includes(kind));

/**
 * One line per kind, for listings (`probepilot probes list`, the catalog the
 * control plane seeds). The full reference, outputs included, is docs/probes.md.
 */
export const PROBE_KIND_SUMMARIES: Record<ProbeKind, string> = {
  host: "Host CPU, memory, swap, load, disk and network from procfs; the baseline when eBPF is unavailable.",
  tcp_flows: "Every closed TCP connection (connect or accept): duration, bytes each way, pid/comm and peer.",
  tcp_connect_latency: "Time from connect() sending SYN to ESTABLISHED, as a latency histogram; failed connects counted.",
  tcp_retransmits: "TCP retransmitted segments and resets sent and received, per remote peer.",
  runqueue_latency: "Time runnable tasks wait on a run queue before getting a CPU, as a latency histogram.",
  block_io_latency: "Block request latency from issue to completion, per device and op, as a histogram.",
  cpu_profile: "On-CPU stack sampling (perf event) folded per process: flame graphs.",
  process_exec: "Every successful exec: program path, arguments, pid, ppid, uid.",
  process_exit: "Every process exit: exit code, killing signal and how long it ran.",
  file_open: "openat/openat2 calls with path and result, filtered by path prefix (opt-in: a hot path).",
  oom_kills: "OOM killer victims: who, and its memory at the time.",
  syscall_counts: "System calls per process and syscall name, busiest first (opt-in: a hot path).",
};

/** Parameters of the `host` probe. */
export const HostProbeParamsSchema = z
  .object({ intervalMs: z.number().int().min(100).max(60_000).default(1000).describe("How often procfs is read and a batch sent.") })
  .strict();

const intervalMs = (defaultMs: number) =>
  z.number().int().min(100).max(60_000).default(defaultMs).describe("How often the probe's maps are read and its output sent (one telemetry batch per interval).");

/**
 * The standard task filters every process-attributed probe takes; each one
 * narrows, and an absent one does not filter. They become rodata knobs set
 * before load, so a filtered-out task costs the probe an early return.
 */
const utf8 = new TextEncoder();
/** Kernel strings are byte arrays: limits are in UTF-8 bytes, not characters. */
const utf8Bytes = (text: string) => utf8.encode(text).length;

const TaskFilterShape = {
  pid: z.number().int().min(1).max(4_194_304).optional().describe("Only this process id (thread-group id)."),
  comm: z
    .string()
    .min(1)
    .max(15, "comm is at most 15 bytes (the kernel's TASK_COMM_LEN - 1)")
    .refine((c) => utf8Bytes(c) <= 15, "comm is at most 15 bytes (the kernel's TASK_COMM_LEN - 1)")
    .optional()
    .describe("Only tasks whose comm (the kernel's 15-byte task name) equals this."),
  cgroup: z
    .string()
    .max(PROBE_PATH_MAX_BYTES, `cgroup is at most ${PROBE_PATH_MAX_BYTES} bytes (the kernel's PATH_MAX)`)
    .refine((p) => utf8Bytes(p) <= PROBE_PATH_MAX_BYTES, `cgroup is at most ${PROBE_PATH_MAX_BYTES} bytes (the kernel's PATH_MAX)`)
    .regex(/^\/[^\0]*$/, "cgroup is an absolute path in the unified (v2) hierarchy, e.g. /system.slice/nginx.service")
    .refine((p) => !p.split("/").includes(".."), "cgroup must not contain '..'")
    .optional()
    .describe("Only tasks in this cgroup (v2 / unified hierarchy), a path such as `/system.slice/nginx.service`, resolved to its id on the agent."),
};
export type TaskFilter = { pid?: number; comm?: string; cgroup?: string };

const maxEventsPerSec = z
  .number()
  .int()
  .min(1)
  .max(100_000)
  .default(2000)
  .describe("Cap on events sent per second; the excess is counted in `probepilot_probe_events_dropped_total`, not silently lost.");

export const TcpFlowsParamsSchema = z
  .object({
    ...TaskFilterShape,
    minDurationMs: z.number().min(0).max(86_400_000).default(0).describe("Connections shorter than this are not reported (0 = all)."),
    maxEventsPerSec,
    intervalMs: intervalMs(1000),
  })
  .strict();

export const TcpConnectLatencyParamsSchema = z.object({ ...TaskFilterShape, intervalMs: intervalMs(1000) }).strict();

/** Retransmits and resets happen mostly in softirq context, where the current task says nothing: no task filters. */
export const TcpRetransmitsParamsSchema = z
  .object({
    intervalMs: intervalMs(1000),
    maxPeers: z.number().int().min(1).max(10_000).default(100).describe('Per-peer series beyond this many (the busiest kept) are summed into `peer="other"`.'),
  })
  .strict();

export const RunqueueLatencyParamsSchema = z.object({ ...TaskFilterShape, intervalMs: intervalMs(1000) }).strict();

export const BlockIoLatencyParamsSchema = z.object({ ...TaskFilterShape, intervalMs: intervalMs(1000) }).strict();

export const CpuProfileParamsSchema = z
  .object({
    ...TaskFilterShape,
    sampleHz: z.number().int().min(1).max(1000).default(49).describe("Samples per second per CPU (cpu-clock perf event). Odd rates avoid lockstep with periodic work."),
    intervalMs: intervalMs(10_000).describe("Each profile covers this window: stacks are aggregated, symbolized and sent once per interval."),
  })
  .strict();

export const ProcessExecParamsSchema = z.object({ ...TaskFilterShape, maxEventsPerSec, intervalMs: intervalMs(1000) }).strict();

export const ProcessExitParamsSchema = z.object({ ...TaskFilterShape, maxEventsPerSec, intervalMs: intervalMs(1000) }).strict();

export const FileOpenParamsSchema = z
  .object({
    ...TaskFilterShape,
    pathPrefix: z
      .string()
      .min(1)
      .max(63, "pathPrefix is at most 63 bytes")
      .refine((p) => utf8Bytes(p) <= 63, "pathPrefix is at most 63 bytes")
      .optional().describe("Only paths starting with this (as passed to openat: relative paths as the caller wrote them)."),
    failedOnly: z.boolean().default(false).describe("Only opens that failed (ret < 0)."),
    maxEventsPerSec,
    intervalMs: intervalMs(1000),
  })
  .strict();

export const OomKillsParamsSchema = z.object({ intervalMs: intervalMs(1000) }).strict();

export const SyscallCountsParamsSchema = z
  .object({
    ...TaskFilterShape,
    topN: z.number().int().min(1).max(10_000).default(200).describe('Series per interval: the busiest (process, syscall) pairs; the rest are summed into `syscall="other"`.'),
    intervalMs: intervalMs(1000),
  })
  .strict();

const PARAM_SCHEMAS = {
  host: HostProbeParamsSchema,
  tcp_flows: TcpFlowsParamsSchema,
  tcp_connect_latency: TcpConnectLatencyParamsSchema,
  tcp_retransmits: TcpRetransmitsParamsSchema,
  runqueue_latency: RunqueueLatencyParamsSchema,
  block_io_latency: BlockIoLatencyParamsSchema,
  cpu_profile: CpuProfileParamsSchema,
  process_exec: ProcessExecParamsSchema,
  process_exit: ProcessExitParamsSchema,
  file_open: FileOpenParamsSchema,
  oom_kills: OomKillsParamsSchema,
  syscall_counts: SyscallCountsParamsSchema,
} as const satisfies Record<ProbeKind, z.ZodType>;

/** Parsed parameters of each kind (defaults filled in). */
export type ProbeParams = { [K in ProbeKind]: z.infer<(typeof PARAM_SCHEMAS)[K]> };

/** Parameter schema of a kind: strict (an unknown key is an error), defaults filled in. */
export function probeParamsSchema<K extends ProbeKind>(kind: K): (typeof PARAM_SCHEMAS)[K] {
  return PARAM_SCHEMAS[kind];
}

/**
 * Probe parameters as a caller sends them, before the kind's schema checks them: an
 * object of at most {@link PROBE_PARAMS_MAX_COUNT} names (the largest kind takes 8), each
 * name at most {@link PROBE_PARAM_NAME_MAX_LENGTH} characters. Counted before the entries
 * are looked at, so an unknown-parameter message never lists thousands of names.
 */
export const ProbeParamsInputSchema = boundedRecord(
  z.record(
    z.string().max(PROBE_PARAM_NAME_MAX_LENGTH, `a parameter name is at most ${PROBE_PARAM_NAME_MAX_LENGTH} characters`),
    z.unknown(),
    { error: 'params must be an object of parameter names to values, e.g. {"comm": "nginx", "minDurationMs": 5}' },
  ),
  PROBE_PARAMS_MAX_COUNT,
  (n) => tooMany(`${PROBE_PARAMS_MAX_COUNT} parameters`, n),
);

/** A probe spec: a built-in kind and its parameters. Versions of a spec are immutable. */
export const ProbeSpecSchema = z.object({
  kind: ProbeKindSchema,
  params: ProbeParamsInputSchema.default({}),
});
export type ProbeSpec = z.infer<typeof ProbeSpecSchema>;

/** Per-probe lifecycle state reported by agents (data flow 2 in the brief). */
export const PROBE_STATES = ["pending", "applying", "running", "verified", "failed", "unsupported", "rolled_back", "stopped"] as const;
export const ProbeStateSchema = z.enum(PROBE_STATES);
export type ProbeState = z.infer<typeof ProbeStateSchema>;
