import { existsSync } from "node:fs";
import { access } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { AgentCapabilities, ProbeKind, TaskFilter } from "@probepilot/shared";
import type { BpfProbeDefinition, ResolvedFilters } from "./bpf-probe.ts";
import { cgroupId } from "./cgroup-id.ts";
import { blockIoLatency } from "./kinds/block-io-latency.ts";
import { cpuProfile } from "./kinds/cpu-profile.ts";
import { fileOpen } from "./kinds/file-open.ts";
import { oomKills } from "./kinds/oom-kills.ts";
import { processExec } from "./kinds/process-exec.ts";
import { processExit } from "./kinds/process-exit.ts";
import { runqueueLatency } from "./kinds/runqueue-latency.ts";
import { syscallCounts } from "./kinds/syscall-counts.ts";
import { tcpConnectLatency } from "./kinds/tcp-connect-latency.ts";
import { tcpFlows } from "./kinds/tcp-flows.ts";
import { tcpRetransmits } from "./kinds/tcp-retransmits.ts";

export type BpfProbeKind = Exclude<ProbeKind, "host">;

/** Every eBPF probe kind: its object is bpf/build/probes/<kind>.bpf.o. */
export const BPF_PROBES: { [K in BpfProbeKind]: BpfProbeDefinition<K> } = {
  tcp_flows: tcpFlows,
  tcp_connect_latency: tcpConnectLatency,
  tcp_retransmits: tcpRetransmits,
  runqueue_latency: runqueueLatency,
  block_io_latency: blockIoLatency,
  cpu_profile: cpuProfile,
  process_exec: processExec,
  process_exit: processExit,
  file_open: fileOpen,
  oom_kills: oomKills,
  syscall_counts: syscallCounts,
};

export function isBpfProbeKind(kind: ProbeKind): kind is BpfProbeKind {
  return kind !== "host";
}

/**
 * `bpf/build` of this checkout: where `make -C bpf` puts ppbpf and the objects.
 * Found by walking up from this module, which runs from agent/src (through tsx)
 * or from agent/dist (bundled).
 */
export const DEFAULT_BPF_DIR = findCheckoutBpfBuild(path.dirname(fileURLToPath(import.meta.url)));

function findCheckoutBpfBuild(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, "bpf", "Makefile"))) return path.join(dir, "bpf", "build");
    if (path.dirname(dir) === dir) return path.resolve(from, "../../../../bpf/build"); // not in a checkout: PROBEPILOT_BPF_DIR must say where
  }
}

export type BpfEnvironment = {
  /** Directory holding `ppbpf` and `probes/<kind>.bpf.o`. */
  bpfDir: string;
  capabilities: AgentCapabilities;
};

export const loaderBinary = (env: Pick<BpfEnvironment, "bpfDir">) => path.join(env.bpfDir, "ppbpf");
export const probeObject = (env: Pick<BpfEnvironment, "bpfDir">, kind: BpfProbeKind) => path.join(env.bpfDir, "probes", `${kind}.bpf.o`);

/**
 * Why this eBPF probe cannot run on this host, or null when it can: checked
 * before load so the probe is reported `unsupported` with the reason instead of
 * failing and restarting forever.
 */
export async function bpfProbeProblem(kind: BpfProbeKind, env: BpfEnvironment): Promise<string | null> {
  const caps = env.capabilities;
  const def = BPF_PROBES[kind];
  if (!caps.btf) return "the kernel exposes no BTF (/sys/kernel/btf/vmlinux): CO-RE probes cannot be relocated";
  if (!caps.bpfSyscall.permitted) return `bpf() is not permitted: ${caps.bpfSyscall.reason ?? "needs CAP_BPF or CAP_SYS_ADMIN"}`;
  if (def.perfEvent && !caps.perfEvents.available) return `perf events are unavailable: ${caps.perfEvents.reason ?? "perf_event_open refused"}`;
  if (def.tracepoints.length > 0) {
    if (!caps.tracepoints.available || !caps.tracepoints.tracefs) return `tracepoints are unavailable: ${caps.tracepoints.reason ?? "no tracefs"}`;
    const missing = [];
    for (const tp of def.tracepoints) {
      if (!(await exists(path.join(caps.tracepoints.tracefs, "events", tp)))) missing.push(tp);
    }
    if (missing.length > 0) return `this kernel has no tracepoint ${missing.join(", ")}`;
  }
  for (const file of [loaderBinary(env), probeObject(env, kind)]) {
    if (!(await exists(file))) return `${file} is missing: build the probes with \`make -C bpf\` (or point PROBEPILOT_BPF_DIR at a build)`;
  }
  return null;
}

/** The standard filter parameters as knob values; a cgroup path becomes its v2 id. */
export async function resolveFilters(params: TaskFilter): Promise<ResolvedFilters> {
  return {
    ...(params.pid !== undefined ? { targ_pid: params.pid } : {}),
    ...(params.comm !== undefined ? { targ_comm: params.comm } : {}),
    ...(params.cgroup !== undefined ? { targ_cgroup: await cgroupId(params.cgroup) } : {}),
  };
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}
