import { access, open, readFile, stat } from "node:fs/promises";
import { constants } from "node:fs";
import path from "node:path";
import { gunzip } from "node:zlib";
import type { AgentCapabilities } from "@probepilot/shared";

/**
 * What this host lets the agent do with eBPF, detected before any probe is
 * loaded so an unsupported probe can report *why*. The wire schema (and the
 * meaning of each field) is `CapabilitiesSchema` in shared.
 */
export type Capabilities = AgentCapabilities;

/** Where {@link detectCapabilities} looks; injectable so tests can run on fixture trees. */
export interface CapabilityRoots {
  /** procfs mount point. Default "/proc". */
  procRoot?: string;
  /** sysfs mount point. Default "/sys". */
  sysRoot?: string;
}

/** Capability bit numbers from linux/capability.h. */
export const CAP_SYS_ADMIN = 21;
/** Split out of CAP_SYS_ADMIN in Linux 5.8 for perf_event_open(2). */
export const CAP_PERFMON = 38;
/** Split out of CAP_SYS_ADMIN in Linux 5.8 for bpf(2). */
export const CAP_BPF = 39;

/** Returns whether capability bit `cap` is set in a `CapEff`-style hex mask. */
export function hasCapability(capEffHex: string, cap: number): boolean {
  if (!/^[0-9a-fA-F]+$/.test(capEffHex)) return false;
  // BigInt because the mask is 64 bits wide and CAP_BPF (39) is past the 32-bit range of `&`.
  return ((BigInt(`0x${capEffHex}`) >> BigInt(cap)) & 1n) === 1n;
}

/** The `Key:\tvalue` lines of `/proc/<pid>/status`. */
export function parseProcStatus(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const i = line.indexOf(":");
    if (i <= 0) continue;
    out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

/**
 * Detects the eBPF-relevant capabilities of this host and process.
 * Never throws; see {@link Capabilities} for the meaning of each field.
 */
export async function detectCapabilities(roots: CapabilityRoots = {}): Promise<Capabilities> {
  const procRoot = roots.procRoot ?? "/proc";
  const sysRoot = roots.sysRoot ?? "/sys";

  const statusPath = path.join(procRoot, "self/status");
  const statusText = await readText(statusPath);
  const status = statusText === undefined ? undefined : parseProcStatus(statusText);
  const capEff = status?.CapEff ?? "";
  const uid = parseUid(status?.Uid) ?? process.getuid?.() ?? -1;
  const capsKnown = /^[0-9a-fA-F]+$/.test(capEff);

  const [btf, bpfSyscall, tracepoints, perfEvents, kprobes] = await Promise.all([
    guard(() => detectBtf(sysRoot), false),
    guard(() => detectBpfSyscall(procRoot, capEff, capsKnown, statusPath), {
      permitted: false,
      reason: "bpf(2) check failed unexpectedly",
    }),
    guard(() => detectTracepoints(procRoot, sysRoot), {
      available: false,
      reason: "tracefs check failed unexpectedly",
    }),
    guard(() => detectPerfEvents(procRoot, capEff, capsKnown, statusPath), {
      available: false,
      reason: "perf_event check failed unexpectedly",
    }),
    guard(() => detectKprobes(procRoot, sysRoot), { available: false, reason: "kprobe check failed unexpectedly" }),
  ]);
  return { btf, bpfSyscall, tracepoints, perfEvents, kprobes, uid, capEff };
}

/** Runs one check so that an unexpected exception degrades to `fallback` instead of failing the others. */
async function guard<T>(check: () => Promise<T>, fallback: T): Promise<T> {
  try {
    return await check();
  } catch {
    return fallback;
  }
}

async function readText(file: string): Promise<string | undefined> {
  return readFile(file, "utf8").catch(() => undefined);
}

async function exists(file: string): Promise<boolean> {
  return access(file, constants.F_OK).then(
    () => true,
    () => false,
  );
}

async function isDirectory(dir: string): Promise<boolean> {
  return stat(dir).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

/** `Uid:` is "real effective saved fs"; permission checks use the effective one. */
function parseUid(field: string | undefined): number | undefined {
  const effective = field?.split(/\s+/)[1];
  if (effective === undefined || !/^\d+$/.test(effective)) return undefined;
  return Number(effective);
}

/** Reads a sysctl file holding one integer. */
async function readIntFile(file: string): Promise<number | undefined> {
  const text = await readText(file);
  if (text === undefined) return undefined;
  const n = Number.parseInt(text.trim(), 10);
  return Number.isFinite(n) ? n : undefined;
}

/** BTF blobs start with magic 0xeB9F; checking it catches an empty or foreign file, not just a missing one. */
async function detectBtf(sysRoot: string): Promise<boolean> {
  const handle = await open(path.join(sysRoot, "kernel/btf/vmlinux"), "r").catch(() => undefined);
  if (!handle) return false;
  try {
    const buf = Buffer.alloc(2);
    const { bytesRead } = await handle.read(buf, 0, 2, 0);
    // Magic in the host's byte order; accept both so a big-endian host is not misreported.
    return bytesRead === 2 && (buf.readUInt16LE(0) === 0xeb9f || buf.readUInt16BE(0) === 0xeb9f);
  } finally {
    await handle.close();
  }
}

async function detectBpfSyscall(
  procRoot: string,
  capEff: string,
  capsKnown: boolean,
  statusPath: string,
): Promise<Capabilities["bpfSyscall"]> {
  // The sysctl exists iff the kernel was built with CONFIG_BPF_SYSCALL.
  const sysctl = path.join(procRoot, "sys/kernel/unprivileged_bpf_disabled");
  const unprivDisabled = await readIntFile(sysctl);
  if (unprivDisabled === undefined) {
    return { permitted: false, reason: `cannot read ${sysctl}: kernel built without CONFIG_BPF_SYSCALL, or procfs not mounted` };
  }
  if (!capsKnown) return { permitted: false, reason: `cannot read CapEff from ${statusPath}` };
  if (hasCapability(capEff, CAP_SYS_ADMIN) || hasCapability(capEff, CAP_BPF)) return { permitted: true };
  // Unprivileged bpf(2) only ever allows socket filters, never the tracing
  // programs ProbePilot loads, so without the capabilities it is "not permitted" even when the sysctl is 0.
  const sysctlNote =
    unprivDisabled === 0
      ? "unprivileged_bpf_disabled=0 only allows socket filters, not tracing programs"
      : `unprivileged_bpf_disabled=${unprivDisabled} forbids bpf(2) without capabilities`;
  return {
    permitted: false,
    reason: `CapEff ${capEff} has neither CAP_SYS_ADMIN (21) nor CAP_BPF (39); ${sysctlNote}. Run the agent as root or grant CAP_BPF+CAP_PERFMON`,
  };
}

/** The two places libbpf looks for tracefs, in its order of preference. */
function tracefsCandidates(sysRoot: string): string[] {
  return [path.join(sysRoot, "kernel/tracing"), path.join(sysRoot, "kernel/debug/tracing")];
}

async function findTracefs(sysRoot: string): Promise<string | undefined> {
  for (const dir of tracefsCandidates(sysRoot)) {
    // sched_switch exists on every kernel with tracepoints; an empty mount-point directory has no `events/`.
    if (await isDirectory(path.join(dir, "events/sched/sched_switch"))) return dir;
  }
  return undefined;
}

async function detectTracepoints(procRoot: string, sysRoot: string): Promise<Capabilities["tracepoints"]> {
  const tracefs = await findTracefs(sysRoot);
  if (tracefs !== undefined) return { available: true, tracefs };
  const [where1, where2] = tracefsCandidates(sysRoot);
  const filesystems = await readText(path.join(procRoot, "filesystems"));
  const supported = filesystems !== undefined && /\btracefs\b/.test(filesystems);
  // Tracepoint perf events need the event id from tracefs (`events/<cat>/<name>/id`),
  // so a kernel with a tracepoint PMU is still unusable for libbpf without the mount.
  const hint =
    filesystems === undefined
      ? `cannot read ${path.join(procRoot, "filesystems")} to tell whether the kernel supports tracefs`
      : supported
        ? `the kernel supports tracefs but it is not mounted there (mount -t tracefs nodev ${where1})`
        : "the kernel does not list tracefs in /proc/filesystems";
  return { available: false, reason: `no tracefs with events/sched/sched_switch at ${where1} or ${where2}: ${hint}` };
}

async function detectPerfEvents(
  procRoot: string,
  capEff: string,
  capsKnown: boolean,
  statusPath: string,
): Promise<Capabilities["perfEvents"]> {
  // The sysctl exists iff the kernel was built with CONFIG_PERF_EVENTS.
  const sysctl = path.join(procRoot, "sys/kernel/perf_event_paranoid");
  const paranoid = await readIntFile(sysctl);
  if (paranoid === undefined) {
    return { available: false, reason: `cannot read ${sysctl}: kernel built without CONFIG_PERF_EVENTS, or procfs not mounted` };
  }
  // CAP_PERFMON (or CAP_SYS_ADMIN before 5.8) bypasses perf_event_paranoid entirely.
  if (capsKnown && (hasCapability(capEff, CAP_PERFMON) || hasCapability(capEff, CAP_SYS_ADMIN))) {
    return { available: true, paranoid };
  }
  // Without capabilities, CPU-wide events (needed to see every process) require paranoid <= 0:
  // 1 forbids CPU events, 2 kernel profiling, and Debian/Android's 3 everything.
  if (paranoid <= 0) return { available: true, paranoid };
  const caps = capsKnown ? `CapEff ${capEff} has neither CAP_PERFMON (38) nor CAP_SYS_ADMIN (21)` : `cannot read CapEff from ${statusPath}`;
  return {
    available: false,
    paranoid,
    reason: `perf_event_paranoid=${paranoid} forbids system-wide perf events without privileges (needs <= 0) and ${caps}`,
  };
}

async function detectKprobes(procRoot: string, sysRoot: string): Promise<Capabilities["kprobes"]> {
  // Any one is enough: libbpf attaches through the `kprobe` PMU (CONFIG_KPROBE_EVENTS) and
  // falls back to tracefs `kprobe_events`; debugfs `kprobes/` shows CONFIG_KPROBES itself.
  const pmu = path.join(sysRoot, "bus/event_source/devices/kprobe");
  const debugfs = path.join(sysRoot, "kernel/debug/kprobes");
  if (await exists(pmu)) return { available: true };
  for (const dir of tracefsCandidates(sysRoot)) {
    if (await exists(path.join(dir, "kprobe_events"))) return { available: true };
  }
  if (await exists(debugfs)) return { available: true };
  const tracefs = await findTracefs(sysRoot);
  const tracefsNote = tracefs ? `no kprobe_events in ${tracefs}` : "tracefs not mounted, so kprobe_events could not be checked";
  // The kernel config, when exposed, turns "likely" into a definite answer for the operator.
  const config = await readKernelConfig(procRoot);
  const configNote =
    config === undefined
      ? "kernel likely built without CONFIG_KPROBES/CONFIG_KPROBE_EVENTS"
      : /^# CONFIG_KPROBES is not set$/m.test(config)
        ? "kernel built without CONFIG_KPROBES (per /proc/config.gz)"
        : /^# CONFIG_KPROBE_EVENTS is not set$/m.test(config)
          ? "kernel built without CONFIG_KPROBE_EVENTS (per /proc/config.gz)"
          : "kernel likely built without CONFIG_KPROBES/CONFIG_KPROBE_EVENTS";
  return {
    available: false,
    reason: `no kprobe PMU at ${pmu}, ${tracefsNote}, no ${debugfs}: ${configNote}; use tracepoint-based probes`,
  };
}

/** `/proc/config.gz` (CONFIG_IKCONFIG_PROC) as text, or undefined when absent or unreadable. */
async function readKernelConfig(procRoot: string): Promise<string | undefined> {
  const gz = await readFile(path.join(procRoot, "config.gz")).catch(() => undefined);
  if (gz === undefined) return undefined;
  return new Promise((resolve) => gunzip(gz, (err, buf) => resolve(err ? undefined : buf.toString("utf8"))));
}
