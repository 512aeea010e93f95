import { HostProbeParamsSchema, probeParamsSchema, type ProbeCost, type ProbeKind } from "@probepilot/shared";
import type { Logger } from "../logger.ts";
import { HostProbe } from "./host/host-probe.ts";
import type { TelemetryContent } from "../telemetry/telemetry-content.ts";
import { BpfProbe } from "./bpf/bpf-probe.ts";
import { BPF_PROBES, bpfProbeProblem, isBpfProbeKind, loaderBinary, probeObject, resolveFilters, type BpfEnvironment, type BpfProbeKind } from "./bpf/bpf-catalog.ts";

/** A running probe: a unit that starts and closes together. */
export interface ProbeRuntime {
  start(): Promise<void>;
  close(): Promise<void>;
  /** What the probe costs its host, once measured (eBPF probes). */
  readonly cost?: ProbeCost | undefined;
}

/** What a probe gets from the agent: its parameters and where its output and errors go. */
export type ProbeContext = {
  params: Record<string, unknown>;
  emit: (content: TelemetryContent) => void;
  /** A non-fatal error (one unreadable file, one undecodable record): counted and logged. */
  reportError: (err: Error) => void;
  /** The probe stopped working after it started (its loader crashed): the supervisor restarts it. */
  fail: (err: Error) => void;
  /** A new cost measurement (eBPF probes, once per interval). */
  onCost?: (cost: ProbeCost | null) => void;
  log: Logger;
};

export type ProbeFactory = (ctx: ProbeContext) => ProbeRuntime;

function hostProbe(ctx: ProbeContext): ProbeRuntime {
  const params = HostProbeParamsSchema.parse(ctx.params);
  return new HostProbe({ intervalMs: params.intervalMs, onSeries: (series) => ctx.emit({ series }), onError: ctx.reportError });
}

/** An eBPF probe: filters resolved at start (a cgroup path may appear later: a retry resolves it again). */
function bpfProbe(kind: BpfProbeKind, env: BpfEnvironment): ProbeFactory {
  return (ctx) => {
    const def = BPF_PROBES[kind];
    const params = probeParamsSchema(kind).parse(ctx.params);
    let probe: BpfProbe | null = null;
    return {
      async start() {
        const filters = await resolveFilters(params as Parameters<typeof resolveFilters>[0]);
        probe = new BpfProbe({
          kind,
          loaderBinary: loaderBinary(env),
          object: probeObject(env, kind),
          // Each definition is typed by its own kind; the catalog entry for `kind` takes `params` of that kind.
          plan: (def.plan as (p: typeof params, f: typeof filters) => ReturnType<typeof def.plan>)(params, filters),
          decoder: (def.decoder as (p: typeof params, d: { log: Logger }) => ReturnType<typeof def.decoder>)(params, { log: ctx.log }),
          emit: ctx.emit,
          fail: ctx.fail,
          reportError: ctx.reportError,
          ...(ctx.onCost ? { onCost: ctx.onCost } : {}),
          log: ctx.log,
        });
        await probe.start();
      },
      async close() {
        await probe?.close();
      },
      get cost() {
        return probe?.cost;
      },
    };
  };
}

/**
 * The probes this agent can run on this host: a factory per kind, and for the
 * ones it cannot run, the reason (reported as `unsupported`, never skipped silently).
 */
export class ProbeCatalog {
  constructor(private readonly bpf: BpfEnvironment) {}

  factory(kind: ProbeKind): ProbeFactory {
    return isBpfProbeKind(kind) ? bpfProbe(kind, this.bpf) : hostProbe;
  }

  /** Why `kind` cannot run here, or null. Checked at every reconcile (a few stat calls), so a build made later is picked up. */
  unsupportedReason(kind: ProbeKind): Promise<string | null> {
    return isBpfProbeKind(kind) ? bpfProbeProblem(kind, this.bpf) : Promise.resolve(null);
  }
}
