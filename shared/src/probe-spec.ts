import { z } from "zod";

/**
 * The built-in probe catalog (brief, "Probes"). `host` is procfs-based and is the
 * baseline when eBPF is unavailable; the others are CO-RE eBPF programs.
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

/** Parameters of the `host` probe. The eBPF probes' parameter schemas arrive with them. */
export const HostProbeParamsSchema = z
  .object({ intervalMs: z.number().int().min(100).max(60_000).default(1000) })
  .strict();

const NO_PARAMS = z.object({}).strict();

/** Parameter schema of a kind; kinds without typed parameters yet accept only `{}`. */
export function probeParamsSchema(kind: ProbeKind): z.ZodType<Record<string, unknown>> {
  return kind === "host" ? HostProbeParamsSchema : NO_PARAMS;
}

/** A probe spec: a built-in kind and its parameters. Versions of a spec are immutable. */
export const ProbeSpecSchema = z.object({
  kind: ProbeKindSchema,
  params: z.record(z.string(), z.unknown()).default({}),
});
export type ProbeSpec = z.infer<typeof ProbeSpecSchema>;

/** Per-probe lifecycle state reported by agents (data flow 2 in the brief). */
export const PROBE_STATES = ["pending", "applying", "running", "verified", "failed", "unsupported", "rolled_back", "stopped"] as const;
export const ProbeStateSchema = z.enum(PROBE_STATES);
export type ProbeState = z.infer<typeof ProbeStateSchema>;
