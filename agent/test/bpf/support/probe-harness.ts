import { describe } from "vitest";
import pino from "pino";
import { probeParamsSchema, type ProbeKind } from "@probepilot/shared";
import { BpfProbe } from "../../../src/probes/bpf/bpf-probe.ts";
import { BPF_PROBES, DEFAULT_BPF_DIR, loaderBinary, probeObject, resolveFilters, type BpfProbeKind } from "../../../src/probes/bpf/bpf-catalog.ts";
import type { TelemetryContent } from "../../../src/telemetry/telemetry-content.ts";
import { waitFor } from "../../support/wait-for.ts";

/**
 * `describe` for suites that load eBPF programs into the running kernel. They
 * run as root (CI does); PROBEPILOT_SKIP_KERNEL_TESTS=1 skips them, and says so.
 */
export const SKIP_KERNEL = process.env.PROBEPILOT_SKIP_KERNEL_TESTS === "1";
export function describeKernel(name: string, body: () => void): void {
  if (SKIP_KERNEL) process.stdout.write(`[tests] SKIPPED (PROBEPILOT_SKIP_KERNEL_TESTS=1): ${name}\n`);
  describe.skipIf(SKIP_KERNEL)(name, body);
}

export type RunningProbe = {
  probe: BpfProbe;
  /** Everything the probe emitted so far, one entry per interval (or per split piece). */
  emitted: TelemetryContent[];
  errors: Error[];
  /** Wait until `pick` finds something in what was emitted (polls; fails with `what` after the timeout). */
  until<T>(pick: (all: TelemetryContent[]) => T | undefined, what: string, timeoutMs?: number): Promise<T>;
  stop(): Promise<void>;
};

/**
 * Load one probe kind straight from `bpf/build` with real parameters and
 * collect what its decoder emits: the kernel, the loader and the decoder,
 * without NATS in between.
 */
export async function startProbe<K extends BpfProbeKind>(kind: K, params: Record<string, unknown> = {}): Promise<RunningProbe> {
  const env = { bpfDir: process.env.PROBEPILOT_BPF_DIR ?? DEFAULT_BPF_DIR };
  const parsed = probeParamsSchema(kind as ProbeKind).parse(params) as never;
  const def = BPF_PROBES[kind];
  const emitted: TelemetryContent[] = [];
  const errors: Error[] = [];
  const log = pino({ level: process.env.PP_TEST_LOG ?? "silent" });
  const probe = new BpfProbe({
    kind,
    loaderBinary: loaderBinary(env),
    object: probeObject(env, kind),
    plan: (def.plan as (p: never, f: unknown) => ReturnType<typeof def.plan>)(parsed, await resolveFilters(parsed)),
    decoder: (def.decoder as (p: never, d: unknown) => ReturnType<typeof def.decoder>)(parsed, { log }),
    emit: (content) => emitted.push(content),
    fail: (err) => errors.push(err),
    reportError: (err) => errors.push(err),
    log,
  });
  await probe.start();
  return {
    probe,
    emitted,
    errors,
    until: (pick, what, timeoutMs = 15_000) => waitFor(async () => pick(emitted), { what, timeoutMs, debug: () => JSON.stringify({ errors: errors.map((e) => e.message), emitted: emitted.slice(-3) }).slice(0, 4000) }),
    stop: () => probe.close(),
  };
}
