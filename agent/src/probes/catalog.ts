import { HostProbeParamsSchema, type MetricSeries, type ProbeKind } from "@probepilot/shared";
import { HostProbe } from "./host/host-probe.ts";

/** A running probe: a unit that starts and closes together. */
export interface ProbeRuntime {
  start(): Promise<void>;
  close(): Promise<void>;
}

/** What a probe gets from the agent: its parameters and where its output and non-fatal errors go. */
export type ProbeContext = {
  params: Record<string, unknown>;
  emitSeries: (series: MetricSeries[]) => void;
  reportError: (err: Error) => void;
};

export type ProbeFactory = (ctx: ProbeContext) => ProbeRuntime;

/**
 * The probe kinds this agent build can run. Kinds in the shared catalog but
 * missing here are reported `unsupported` with the reason below, never silently skipped.
 */
export const PROBE_FACTORIES: Partial<Record<ProbeKind, ProbeFactory>> = {
  host: (ctx) => {
    const params = HostProbeParamsSchema.parse(ctx.params);
    return new HostProbe({ intervalMs: params.intervalMs, onSeries: ctx.emitSeries, onError: ctx.reportError });
  },
};

/** Why a kind cannot run on this agent, or null when it can. */
export function unsupportedReason(kind: ProbeKind): string | null {
  if (PROBE_FACTORIES[kind]) return null;
  return `probe kind "${kind}" is not available in this agent build (only: ${Object.keys(PROBE_FACTORIES).join(", ")})`;
}
