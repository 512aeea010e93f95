import type { ProbeCost, ProbeKind } from "@probepilot/shared";
import type { AgentProbeCatalog } from "../agent.ts";
import type { ProbeFactory, ProbeRuntime } from "../probes/catalog.ts";
import { simulatedCostPercent, simulatedOutcome, type ProbeRules } from "./fleet-spec.ts";

/** How the simulated probes of a fleet behave (shared by every agent; outcomes differ by agent id). */
export type SimulatedProbeBehaviour = {
  /** `--fail`: probe versions that fail to start on a share of the agents. */
  fail: ProbeRules;
  /** `--unsupported`: probe versions a share of the agents report unsupported. */
  unsupported: ProbeRules;
  /** `--cost`: percent of one core a running probe reports. */
  cost: ProbeRules;
  /** A start takes a random time in this range (ms), like a real probe's load and attach. */
  startDelayMs: { min: number; max: number };
};

/** Share of a simulated probe's cost put on the kernel side; the rest is its "loader". The overhead guard adds both. */
const KERNEL_SHARE = 0.8;
/** What a simulated loader reports as its resident memory (a real `ppbpf` is 2–6 MB). */
const SIMULATED_LOADER_RSS_BYTES = 4 * 1024 * 1024;
/** Pretend BPF program runs per second, so the cumulative counters grow plausibly. */
const SIMULATED_RUNS_PER_SEC = 1000;

/**
 * A probe catalog that loads nothing: each probe's start waits a little and then
 * runs, or fails with `simulated failure of <kind> <version> on this agent (--fail …)`,
 * as {@link simulatedOutcome} decides for this agent. Everything around it (the
 * supervisor's restarts with backoff, status reporting) is the real agent's.
 * The agent id is read lazily: it is known only once the agent has enrolled,
 * and probes are never asked for before that.
 */
export class SimulatedProbeCatalog implements AgentProbeCatalog {
  constructor(
    private readonly behaviour: SimulatedProbeBehaviour,
    private readonly agentId: () => string | undefined,
  ) {}

  factory(kind: ProbeKind, version: string): ProbeFactory {
    return () => new SimulatedProbe(kind, version, this.id(), this.behaviour);
  }

  unsupportedReason(kind: ProbeKind, version: string): Promise<string | null> {
    const o = simulatedOutcome(this.behaviour, this.id(), kind, version);
    return Promise.resolve(o.outcome === "unsupported" ? `simulated: ${kind} ${version} is not supported on this host (--unsupported ${o.rule.text})` : null);
  }

  private id(): string {
    const id = this.agentId();
    if (id === undefined) throw new Error("simulated probe asked for before the agent enrolled: its outcome depends on the agent id");
    return id;
  }
}

/**
 * One simulated probe. No timer survives `start()`: the cost is computed when a
 * status asks for it, so a fleet of 10,000 running probes costs no CPU between heartbeats.
 * It never calls `ctx.onCost`: that feeds per-kind gauges of the process's /metrics,
 * which 10,000 agents sharing one registry would only overwrite; the cost reaches the
 * control plane through each agent's status (`ProbeStatus.cost`), as a real probe's does.
 */
class SimulatedProbe implements ProbeRuntime {
  private startedAt = 0;
  private closed = false;
  private pending: { timer: NodeJS.Timeout; resolve: () => void } | null = null;
  private readonly costPercent: number;

  constructor(
    private readonly kind: ProbeKind,
    private readonly version: string,
    private readonly agentId: string,
    private readonly behaviour: SimulatedProbeBehaviour,
  ) {
    this.costPercent = simulatedCostPercent(behaviour.cost, kind, version);
  }

  async start(): Promise<void> {
    const { min, max } = this.behaviour.startDelayMs;
    const delay = min + Math.random() * Math.max(0, max - min);
    await new Promise<void>((resolve) => {
      this.pending = { timer: setTimeout(resolve, delay), resolve };
    });
    this.pending = null;
    if (this.closed) return; // stopped while starting: the supervisor reports "stopped", not an outcome
    const o = simulatedOutcome(this.behaviour, this.agentId, this.kind, this.version);
    if (o.outcome === "failed") throw new Error(`simulated failure of ${this.kind} ${this.version} on this agent (--fail ${o.rule.text})`);
    this.startedAt = Date.now();
  }

  /** Also ends a start still waiting (the supervisor closes a probe being stopped while it starts). */
  close(): Promise<void> {
    this.closed = true;
    if (this.pending) {
      clearTimeout(this.pending.timer);
      this.pending.resolve();
    }
    this.startedAt = 0;
    return Promise.resolve();
  }

  get cost(): ProbeCost | undefined {
    if (this.startedAt === 0) return undefined;
    const now = Date.now();
    const seconds = (now - this.startedAt) / 1000;
    const kernelCpuPercent = this.costPercent * KERNEL_SHARE;
    return {
      kernelTimeNs: Math.round(seconds * (kernelCpuPercent / 100) * 1e9),
      kernelRunCount: Math.floor(seconds * SIMULATED_RUNS_PER_SEC),
      kernelCpuPercent,
      loaderCpuPercent: this.costPercent - kernelCpuPercent,
      loaderRssBytes: SIMULATED_LOADER_RSS_BYTES,
      at: now,
    };
  }
}
