import { Backoff, type DesiredProbe, type ProbeStatus } from "@probepilot/shared";
import type { Logger } from "../logger.ts";
import type { ProbeFactory, ProbeRuntime, ProbeContext } from "./catalog.ts";

/** A desired probe as the supervisor sees it: the policy id is absent for default probes. */
export type ProbeAssignment = Omit<DesiredProbe, "policyId" | "revision"> & { policyId?: string };

const MIN_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 60_000;
/** A probe that ran this long is healthy again: its next failure starts the backoff over. */
const HEALTHY_AFTER_MS = 60_000;

/**
 * Runs one probe and keeps it running: `applying` while it starts, `running` once
 * started, `failed` with the error when it cannot start or dies later (its
 * loader crashed), then restarted with backoff (a random wait under a cap of 1 s
 * doubling to 60 s: full jitter, so a fleet whose probe crashes everywhere does not
 * restart in lockstep) until it runs or is stopped. A crashing probe never takes the agent down.
 */
export class ProbeSupervisor {
  private runtime: ProbeRuntime | null = null;
  /** A runtime between factory and running: `stop()` must close it too. */
  private starting: ProbeRuntime | null = null;
  private startDone: Promise<void> = Promise.resolve();
  private retry: NodeJS.Timeout | null = null;
  private readonly backoff = new Backoff(MIN_BACKOFF_MS, MAX_BACKOFF_MS);
  private runningSince = 0;
  private restarts = 0;
  private stopped = false;
  private current: ProbeStatus;

  constructor(
    readonly assignment: ProbeAssignment,
    private readonly factory: ProbeFactory,
    private readonly context: Omit<ProbeContext, "params" | "fail">,
    private readonly onStatus: (status: ProbeStatus) => void,
    private readonly onRestart: () => void,
    private readonly log: Logger,
  ) {
    this.current = this.statusOf("pending");
  }

  /** The probe's state, with its latest cost measurement while it runs. */
  get status(): ProbeStatus {
    const cost = this.current.state === "running" ? this.runtime?.cost : undefined;
    return cost ? { ...this.current, cost } : this.current;
  }

  start(): Promise<void> {
    this.startDone = this.startOnce();
    return this.startDone;
  }

  private async startOnce(): Promise<void> {
    if (this.stopped) return;
    this.setStatus("applying");
    let runtime: ProbeRuntime | null = null;
    try {
      runtime = this.factory({ ...this.context, params: this.assignment.params, fail: (err) => void this.onFailure(runtime, err) });
      this.starting = runtime;
      await runtime.start();
      this.starting = null;
      if (this.stopped) return void (await runtime.close());
      this.runtime = runtime;
      this.runningSince = Date.now();
      this.setStatus("running");
    } catch (err) {
      this.starting = null;
      await runtime?.close().catch(() => {});
      this.failAndRetry(err as Error, "probe failed to start");
    }
  }

  /** Stop the probe, including one still starting (its loader must not outlive the stop). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    const runtime = this.runtime;
    const starting = this.starting;
    this.runtime = null;
    await Promise.all([runtime?.close(), starting?.close().catch(() => {})]);
    await this.startDone;
    this.context.onCost?.(null);
    this.setStatus("stopped");
  }

  /** The running probe died: close what is left of it and restart it after the backoff. */
  private async onFailure(runtime: ProbeRuntime | null, err: Error): Promise<void> {
    if (this.stopped || !runtime || this.runtime !== runtime) return;
    this.runtime = null;
    if (Date.now() - this.runningSince >= HEALTHY_AFTER_MS) this.backoff.reset();
    await runtime.close().catch(() => {});
    if (this.stopped) return;
    this.failAndRetry(err, "probe failed while running");
  }

  private failAndRetry(err: Error, what: string): void {
    if (this.stopped) return; // stopped while starting: "stopped" is the state to report, not the failure
    const message = err.message;
    const waitMs = this.backoff.next();
    this.log.error({ probe: this.assignment.kind, err: message, retryInMs: waitMs }, what);
    this.setStatus("failed", { error: message.slice(0, 4096) });
    this.retry = setTimeout(() => {
      this.retry = null;
      this.restarts++;
      this.onRestart();
      void this.start();
    }, waitMs);
  }

  private statusOf(state: ProbeStatus["state"], extra: Partial<ProbeStatus> = {}): ProbeStatus {
    const { kind, version, policyId } = this.assignment;
    return { kind, version, ...(policyId ? { policyId } : {}), state, since: Date.now(), ...(this.restarts > 0 ? { restarts: this.restarts } : {}), ...extra };
  }

  private setStatus(state: ProbeStatus["state"], extra: Partial<ProbeStatus> = {}): void {
    this.current = this.statusOf(state, extra);
    this.onStatus(this.current);
  }
}
