import { AgentHelloSchema, describeZodError, type AgentCapabilities, type AgentHello } from "@probepilot/shared";
import { AGENT_VERSION } from "../version.ts";
import { hostLabels } from "../host/host-facts.ts";
import { labelsForAgent, stratumForAgent, type LabelsSpec, type StrataSpec } from "./fleet-spec.ts";

/** Host label marking simulated agents, so a selector can leave them out (`!probepilot.io/simulated`). */
export const SIMULATED_LABEL = "probepilot.io/simulated";

/** A well-equipped host: every eBPF capability present, so only `--unsupported` makes a probe unsupported. */
export const SIMULATED_CAPABILITIES: AgentCapabilities = {
  btf: true,
  bpfSyscall: { permitted: true },
  tracepoints: { available: true, tracefs: "/sys/kernel/tracing" },
  perfEvents: { available: true, paranoid: 2 },
  kprobes: { available: true },
  uid: 0,
  capEff: "000001ffffffffff",
};

/**
 * Host name of agent `index` (0-based): `sim-<prefix>-00001`, numbered from 1 and
 * zero-padded to at least five digits so names sort in agent order.
 */
export function simulatedHostname(prefix: string, index: number, total: number): string {
  return `sim-${prefix}-${String(index + 1).padStart(Math.max(5, String(total).length), "0")}`;
}

/**
 * The hello simulated agent `index` enrolls with: its own host name, a host
 * stratum from `strata` (kernel, arch, os, and the host labels a real agent
 * derives from them, see `hostLabels`), user labels from `labels`, and full
 * capabilities. The agent version says `+sim` so the registry tells them apart.
 */
export function simulatedHello(opts: { prefix: string; index: number; total: number; labels: LabelsSpec; strata: StrataSpec }): AgentHello {
  const hostname = simulatedHostname(opts.prefix, opts.index, opts.total);
  const stratum = stratumForAgent(opts.strata, opts.index);
  const hello = AgentHelloSchema.safeParse({
    agentVersion: `${AGENT_VERSION}+sim`,
    hostname,
    os: stratum.os,
    kernel: stratum.kernel,
    arch: stratum.arch,
    hostLabels: { ...hostLabels({ hostname, os: stratum.os, osPrettyName: stratum.os, kernel: stratum.kernel, arch: stratum.arch }), [SIMULATED_LABEL]: "true" },
    userLabels: labelsForAgent(opts.labels, opts.index),
    capabilities: SIMULATED_CAPABILITIES,
  });
  // The specs were validated when parsed; this only catches a prefix that makes an invalid host name.
  if (!hello.success) throw new Error(`simulated host ${hostname} is not a valid agent: ${describeZodError(hello.error)}`);
  return hello.data;
}
