import type { DesiredProbe, ProbeStatus } from "@probepilot/shared";
import type { Logger } from "../logger.ts";
import type { ProbeFactory, ProbeRuntime, ProbeContext } from "./catalog.ts";

/** A desired probe as the supervisor sees it: the policy id is absent for default probes. */
export type ProbeAssignment = Omit<DesiredProbe, "policyId" | "revision"> & { policyId?: string };

const MIN_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 60_000;

/**
 * Runs one probe and keeps it running: `applying` while it starts, `running` once
 * started, `failed` with the error when it cannot start, then retried with
 * exponential backoff (1 s doubling to 60 s) until it runs or is stopped.
 */
export class ProbeSupervisor {
  private runtime: ProbeRuntime | null = null;
  private retry: NodeJS.Timeout | null = null;
  private backoffMs = MIN_BACKOFF_MS;
  private stopped = false;
  status: ProbeStatus;

  constructor(
    readonly assignment: ProbeAssignment,
    private readonly factory: ProbeFactory,
    private readonly context: Omit<ProbeContext, "params">,
    private readonly onStatus: (status: ProbeStatus) => void,
    private readonly onRestart: () => void,
    private readonly log: Logger,
  ) {
    this.status = this.statusOf("pending");
  }

  async start(): Promise<void> {
    this.setStatus("applying");
    try {
      const runtime = this.factory({ ...this.context, params: this.assignment.params });
      await runtime.start();
      if (this.stopped) return void (await runtime.close());
      this.runtime = runtime;
      this.backoffMs = MIN_BACKOFF_MS;
      this.setStatus("running");
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.log.error({ probe: this.assignment.kind, err: message, retryInMs: this.backoffMs }, "probe failed to start");
      this.setStatus("failed", { error: message });
      if (this.stopped) return;
      this.retry = setTimeout(() => {
        this.retry = null;
        this.onRestart();
        void this.start();
      }, this.backoffMs);
      this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    const runtime = this.runtime;
    this.runtime = null;
    await runtime?.close();
    this.setStatus("stopped");
  }

  private statusOf(state: ProbeStatus["state"], extra: Partial<ProbeStatus> = {}): ProbeStatus {
    const { kind, version, policyId } = this.assignment;
    return { kind, version, ...(policyId ? { policyId } : {}), state, since: Date.now(), ...extra };
  }

  private setStatus(state: ProbeStatus["state"], extra: Partial<ProbeStatus> = {}): void {
    this.status = this.statusOf(state, extra);
    this.onStatus(this.status);
  }
}
