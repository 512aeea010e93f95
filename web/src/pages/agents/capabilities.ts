import type { AgentCapabilities } from "@probepilot/shared";

/**
 * The Linux capabilities that matter to an eBPF agent (bit numbers from
 * linux/capability.h), with why, so the detail page can say what a missing one costs.
 */
export const EBPF_CAPABILITIES: readonly { name: string; bit: number; why: string }[] = [
  { name: "CAP_BPF", bit: 39, why: "load BPF programs and create maps (kernel ≥ 5.8)" },
  { name: "CAP_PERFMON", bit: 38, why: "attach to tracepoints and perf events (kernel ≥ 5.8)" },
  { name: "CAP_SYS_ADMIN", bit: 21, why: "what older kernels (< 5.8) require for all of the above" },
  { name: "CAP_SYS_RESOURCE", bit: 24, why: "raise the locked-memory limit BPF maps count against (kernel < 5.11)" },
  { name: "CAP_SYS_PTRACE", bit: 19, why: "read other processes' memory maps to symbolize CPU profiles" },
];

/**
 * Whether a capability bit is set in a `CapEff` mask as `/proc/self/status` prints it
 * (hex, 64 bits). Undefined when the mask was unreadable ("") or is not hex.
 */
export function hasCapability(capEff: string, bit: number): boolean | undefined {
  if (!/^[0-9a-fA-F]{1,16}$/.test(capEff)) return undefined;
  return ((BigInt(`0x${capEff}`) >> BigInt(bit)) & 1n) === 1n;
}

/** One line of the capabilities panel: a check, whether it passed (null: unknown) and what it means. */
export type CapabilityRow = { name: string; ok: boolean | null; detail: string };

/**
 * The agent's capability report as lines a person reads: each check with its
 * outcome and the agent's own reason when it failed (those say what to do).
 */
export function capabilityRows(caps: AgentCapabilities): CapabilityRow[] {
  const check = (available: boolean, yes: string, reason: string | undefined, no: string) => (available ? yes : (reason ?? no));
  const rows: CapabilityRow[] = [
    {
      name: "BTF",
      ok: caps.btf,
      detail: caps.btf ? "/sys/kernel/btf/vmlinux present: CO-RE probes relocate to this kernel" : "no readable /sys/kernel/btf/vmlinux: CO-RE probes cannot load; the host probe still works",
    },
    { name: "bpf() syscall", ok: caps.bpfSyscall.permitted, detail: check(caps.bpfSyscall.permitted, "permitted", caps.bpfSyscall.reason, "not permitted") },
    {
      name: "Tracepoints",
      ok: caps.tracepoints.available,
      detail: check(caps.tracepoints.available, `available (tracefs at ${caps.tracepoints.tracefs ?? "?"})`, caps.tracepoints.reason, "unavailable"),
    },
    {
      name: "Perf events",
      ok: caps.perfEvents.available,
      detail: check(
        caps.perfEvents.available,
        caps.perfEvents.paranoid === undefined ? "available" : `available (perf_event_paranoid ${caps.perfEvents.paranoid})`,
        caps.perfEvents.reason,
        "unavailable",
      ),
    },
    // kprobes are optional: every built-in probe is tracepoint- or perf-event-based.
    { name: "kprobes", ok: caps.kprobes.available, detail: check(caps.kprobes.available, "available (not needed by the built-in probes)", caps.kprobes.reason, "unavailable") },
    { name: "Runs as", ok: null, detail: caps.uid === 0 ? "root (uid 0)" : `uid ${caps.uid}` },
  ];
  for (const cap of EBPF_CAPABILITIES) {
    const has = hasCapability(caps.capEff, cap.bit);
    rows.push({ name: cap.name, ok: has ?? null, detail: has === undefined ? `unknown (CapEff unreadable): ${cap.why}` : cap.why });
  }
  return rows;
}
