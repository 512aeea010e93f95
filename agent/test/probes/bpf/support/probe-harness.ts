import { describe } from "vitest";
import pino from "pino";
import { DEFAULT_BPF_DIR, type BpfProbeKind } from "../../../../src/probes/bpf/bpf-catalog.ts";
import { ProbeCatalog } from "../../../../src/probes/catalog.ts";
import { detectCapabilities } from "../../../../src/host/capabilities.ts";
import type { TelemetryContent } from "../../../../src/telemetry/telemetry-content.ts";
import { waitFor } from "@probepilot/testkit/poll";

/**
 * `describe` for suites that load eBPF programs into the running kernel. They
 * run as root (CI does); PROBEPILOT_SKIP_KERNEL_TESTS=1 skips them, and says so.
 */
export const SKIP_KERNEL = process.env.PROBEPILOT_SKIP_KERNEL_TESTS === "1";
export function describeKernel(name: string, body: () => void): void {
  if (SKIP_KERNEL) process.stdout.write(`[tests] SKIPPED (PROBEPILOT_SKIP_KERNEL_TESTS=1): ${name}\n`);
  // Only an explicit PROBEPILOT_SKIP_KERNEL_TESTS=1 skips (CI never sets it); the name carries the reason into the report.
  describe.skipIf(SKIP_KERNEL)(SKIP_KERNEL ? `${name} [skipped: PROBEPILOT_SKIP_KERNEL_TESTS=1; these load eBPF programs and need root]` : name, body);
}

export type RunningProbe = {
  /** Everything the probe emitted so far, one entry per interval (or per split piece). */
  emitted: TelemetryContent[];
  errors: Error[];
  /** Wait until `pick` finds something in what was emitted (polls; fails with `what` after the timeout). */
  until<T>(pick: (all: TelemetryContent[]) => T | undefined, what: string, timeoutMs?: number): Promise<T>;
  stop(): Promise<void>;
};

/**
 * Load one probe kind from `bpf/build` through the agent's own catalog (the
 * factory the supervisor uses) with real parameters, and collect what it
 * emits: the kernel, the loader and the decoder, without NATS in between.
 */
export async function startProbe(kind: BpfProbeKind, params: Record<string, unknown> = {}): Promise<RunningProbe> {
  const catalog = new ProbeCatalog({ bpfDir: process.env.PROBEPILOT_BPF_DIR ?? DEFAULT_BPF_DIR, capabilities: await detectCapabilities() });
  const emitted: TelemetryContent[] = [];
  const errors: Error[] = [];
  const runtime = catalog.factory(kind)({
    params,
    emit: (content) => emitted.push(content),
    fail: (err) => errors.push(err),
    reportError: (err) => errors.push(err),
    log: pino({ level: process.env.PP_TEST_LOG ?? "silent" }),
  });
  await runtime.start();
  return {
    emitted,
    errors,
    until: (pick, what, timeoutMs = 15_000) => waitFor(async () => pick(emitted), { what, timeoutMs, debug: () => JSON.stringify({ errors: errors.map((e) => e.message), emitted: emitted.slice(-3) }).slice(0, 4000) }),
    stop: () => runtime.close(),
  };
}
