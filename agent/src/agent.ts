import type { NatsConnection } from "nats";
import {
  describeZodError,
  desiredProbes,
  mergeLabels,
  probeParamsSchema,
  type AgentConfig,
  type AgentHello,
  type AgentTelemetryStatus,
  type Labels,
  type ProbeKind,
  type ProbeStatus,
} from "@probepilot/shared";
import type { Logger } from "./logger.ts";
import type { AgentMetrics } from "./metrics.ts";
import type { AgentIdentity } from "./identity/identity-store.ts";
import { sayHello } from "./bus/hello.ts";
import { AgentConfigWatch } from "./bus/config-watch.ts";
import { PolicyWatch } from "./bus/policy-watch.ts";
import { StatusReporter, type StatusState } from "./bus/status-reporter.ts";
import { openTelemetryPublisher, type TelemetryPublisher, type TelemetryStats } from "./telemetry/telemetry-publisher.ts";
import { ProbeCatalog, type ProbeFactory } from "./probes/catalog.ts";
import { DEFAULT_BPF_DIR } from "./probes/bpf/bpf-catalog.ts";
import { ProbeSupervisor, type ProbeAssignment } from "./probes/probe-supervisor.ts";

export type AgentOptions = {
  /** Authenticated as this agent (or, in the simulator, as the tenant's simulator user). */
  nc: NatsConnection;
  /** Who this agent is (enrolled before: `identity/enroll.ts`). */
  identity: Pick<AgentIdentity, "agentId" | "tenantId">;
  hello: AgentHello;
  dataDir: string;
  heartbeatSec: number;
  /** Probe kinds run without any policy (the procfs `host` baseline). */
  defaultProbes: ProbeKind[];
  log: Logger;
  metrics: AgentMetrics;
  /** Bound on the telemetry spool under `<dataDir>/spool` (default 512 MiB). */
  spoolMaxBytes?: number;
  /** `ppbpf` and the probe objects (default: this checkout's bpf/build). */
  bpfDir?: string;
  /**
   * Where probe runtimes come from (default: the real {@link ProbeCatalog} on
   * `bpfDir`). The fleet simulator passes a simulated one, so that everything
   * else (enrollment, policy watch, reconcile, supervisors, status) is the real code.
   */
  catalog?: AgentProbeCatalog;
};

/**
 * What the agent needs from a probe catalog. `version` is the desired probe's
 * version string (a policy's `probe.version`, or {@link BUILTIN_VERSION}); the
 * real catalog ignores it, the simulator decides outcomes by it.
 */
export interface AgentProbeCatalog {
  factory(kind: ProbeKind, version: string): ProbeFactory;
  /** Why `kind` cannot run here, or null; asked at every reconcile for each probe not yet running. */
  unsupportedReason(kind: ProbeKind, version: string): Promise<string | null>;
}

/** Version string of probes that run by default, outside any rollout. */
export const BUILTIN_VERSION = "builtin";

/**
 * One host agent: says hello, keeps its labels current, watches its tenant's
 * policies, reconciles the probes it runs with what they ask for, and reports
 * its state. The identity and NATS connection are passed in (enrollment and
 * credentials are `identity/`'s), so the fleet simulator can run many agents
 * over a few shared connections.
 */
export class Agent {
  private readonly identity: Pick<AgentIdentity, "agentId" | "tenantId">;
  private configWatch: AgentConfigWatch | null = null;
  private policyWatch: PolicyWatch | null = null;
  private reporter: StatusReporter | null = null;
  private publisher: TelemetryPublisher | null = null;
  private readonly supervisors = new Map<ProbeKind, ProbeSupervisor>();
  /** Probes wanted but impossible here: unsupported kinds (with the reason) and invalid parameters (failed, with the error). */
  private readonly unsupported = new Map<ProbeKind, ProbeStatus>();
  private conflicts: { kind: string; winner: string; loser: string }[] = [];
  private appliedPolicies: Record<string, number> = {};
  private reconciling: Promise<void> = Promise.resolve();
  private readonly abort = new AbortController();
  private started = false;

  private readonly catalog: AgentProbeCatalog;

  constructor(private readonly opts: AgentOptions) {
    this.catalog = opts.catalog ?? new ProbeCatalog({ bpfDir: opts.bpfDir ?? DEFAULT_BPF_DIR, capabilities: opts.hello.capabilities });
    this.identity = opts.identity;
  }

  get agentId(): string {
    return this.identity.agentId;
  }

  /** Effective labels: host facts, then command-line labels, then central labels. */
  get labels(): Labels {
    return mergeLabels(this.opts.hello.hostLabels, this.opts.hello.userLabels, this.configWatch?.config.centralLabels ?? {});
  }

  /** Say hello, start watching config and policies, run the first reconcile and start reporting. */
  async start(): Promise<void> {
    const { nc, log } = this.opts;
    const identity = this.identity;
    const config = await sayHello(nc, identity, this.opts.hello, log, this.abort.signal);
    // No JetStream account lookup ($JS.API.INFO): an agent's user may not make it.
    const js = nc.jetstream({ checkAPI: false });
    // Opening the sequence store fails on a corrupt sequence file: better no telemetry than reused sequence numbers.
    this.publisher = await openTelemetryPublisher({
      js,
      dataDir: this.opts.dataDir,
      tenantId: identity.tenantId,
      agentId: identity.agentId,
      log,
      metrics: this.opts.metrics,
      ...(this.opts.spoolMaxBytes !== undefined ? { spoolMaxBytes: this.opts.spoolMaxBytes } : {}),
    });
    this.reporter = new StatusReporter(js, identity.tenantId, identity.agentId, this.opts.heartbeatSec, () => this.statusState(), log, this.opts.metrics);
    this.configWatch = new AgentConfigWatch(nc, identity.tenantId, identity.agentId, config, (c) => this.onConfig(c), log);
    this.configWatch.start();
    this.policyWatch = new PolicyWatch(nc, identity.tenantId, () => this.scheduleReconcile(), log);
    await this.policyWatch.start();
    this.started = true;
    await this.scheduleReconcile();
    this.reporter.start();
    void this.watchConnection();
    log.info({ agentId: identity.agentId, labels: this.labels }, "agent running");
  }

  /**
   * After NATS reconnects: re-read what may have changed while disconnected, and
   * re-create the policy watch (a restarted server has lost its consumer).
   */
  private async onReconnect(): Promise<void> {
    if (this.abort.signal.aborted) return;
    await Promise.all([this.configWatch?.refresh(), this.policyWatch?.rewatch()]);
    this.reporter?.changed();
  }

  /**
   * Follows the connection's status; reconnects trigger a catch-up. The loop ends at
   * the first event after `stop()` or when the connection closes (nats.js offers no
   * way to cancel a status iterator sooner).
   */
  private async watchConnection(): Promise<void> {
    for await (const s of this.opts.nc.status()) {
      if (this.abort.signal.aborted) break;
      if (s.type === "disconnect") this.publisher?.setConnected(false);
      if (s.type === "reconnect") {
        this.publisher?.setConnected(true);
        void this.onReconnect();
      }
    }
  }

  /**
   * Stop watching, stop probes, then say goodbye. The order matters: the goodbye
   * must be the last status message, and a config nudge, policy change or
   * reconnect catch-up arriving during its publish would otherwise schedule a
   * `status` with a higher seq that flips the agent back online. The connection
   * is the caller's to close. The telemetry publisher closes after the probes
   * (nothing emits any more) and before the goodbye: its last batches are
   * published or spooled, and the spool's cursor is persisted for the next start.
   */
  async stop(reason = "shutdown"): Promise<void> {
    this.abort.abort(new Error("agent stopping"));
    this.started = false;
    this.configWatch?.stop();
    await this.policyWatch?.stop();
    await this.reconciling;
    await Promise.all([...this.supervisors.values()].map((s) => s.stop()));
    this.supervisors.clear();
    await this.publisher?.close();
    await this.reporter?.stop(reason);
  }

  /** Current per-probe state (running probes and unsupported ones). */
  probeStatuses(): ProbeStatus[] {
    return [...[...this.supervisors.values()].map((s) => s.status), ...this.unsupported.values()].sort((a, b) => a.kind.localeCompare(b.kind));
  }

  /** Policies that did not parse, by key (reported in logs; kept out of the desired state). */
  invalidPolicies(): Map<string, string> {
    return this.policyWatch?.invalid ?? new Map();
  }

  /** Telemetry backlog and losses (spool, drops, replays), or undefined before enrollment. */
  telemetryStats(): TelemetryStats | undefined {
    return this.publisher?.stats();
  }

  /** What every status and heartbeat carries (public for tests: while NATS is down, nothing else can show it). */
  statusState(): StatusState & { telemetry?: AgentTelemetryStatus } {
    const t = this.publisher?.stats();
    return {
      labels: this.labels,
      appliedPolicies: this.appliedPolicies,
      probes: this.probeStatuses(),
      conflicts: this.conflicts,
      invalidPolicies: Object.fromEntries(this.invalidPolicies()),
      ...(t ? { telemetry: { spooledBatches: t.spooledBatches, spooledBytes: t.spooledBytes, droppedBatches: t.droppedBatches, droppedBytes: t.droppedBytes } } : {}),
    };
  }

  private onConfig(_config: AgentConfig): void {
    if (this.abort.signal.aborted) return; // a refresh still in flight when stop() began
    // Central labels changed: selectors may now match differently.
    void this.scheduleReconcile();
    this.reporter?.changed();
  }

  /** Reconciles run one after another; a burst of policy changes queues behind the one in flight. */
  private scheduleReconcile(): Promise<void> {
    this.reconciling = this.reconciling.then(() => this.reconcile()).catch((err) => this.opts.log.error({ err }, "reconcile failed"));
    return this.reconciling;
  }

  private async reconcile(): Promise<void> {
    if (!this.started || !this.identity || !this.policyWatch) return;
    this.opts.metrics.reconciles.inc();
    // One snapshot for the whole pass: the watch may change the map while probes start and stop,
    // and appliedPolicies must name the revisions this pass acted on, not newer ones still queued.
    const policies = [...this.policyWatch.policies];
    const before = this.reportedState();
    const { probes, conflicts } = desiredProbes(policies.map(([, p]) => p), this.identity.agentId, this.labels);
    const desired = new Map<ProbeKind, ProbeAssignment>();
    for (const kind of this.opts.defaultProbes) desired.set(kind, { kind, version: BUILTIN_VERSION, specHash: BUILTIN_VERSION, params: {} });
    for (const p of probes) desired.set(p.kind, p); // a policy overrides the built-in default
    this.conflicts = conflicts;
    for (const c of conflicts) this.opts.log.warn(c, "two policies ask for the same probe kind; the newer one wins");

    // Stop what is no longer wanted or wanted differently.
    for (const [kind, supervisor] of this.supervisors) {
      const want = desired.get(kind);
      if (!want || want.specHash !== supervisor.assignment.specHash || want.policyId !== supervisor.assignment.policyId) {
        this.supervisors.delete(kind);
        await supervisor.stop();
      }
    }
    this.unsupported.clear();
    // Probes start concurrently: each eBPF probe's load (verifier, attach) is its loader's own work.
    const starting: Promise<void>[] = [];
    for (const [kind, want] of desired) {
      if (this.supervisors.has(kind)) continue;
      const base = { kind, version: want.version, ...(want.policyId ? { policyId: want.policyId } : {}), since: Date.now() };
      const reason = await this.catalog.unsupportedReason(kind, want.version);
      if (reason) {
        this.unsupported.set(kind, { ...base, state: "unsupported", reason });
        continue;
      }
      // Bad parameters are a permanent error: report it instead of restarting the probe forever.
      const params = probeParamsSchema(kind).safeParse(want.params);
      if (!params.success) {
        this.unsupported.set(kind, { ...base, state: "failed", error: `invalid parameters for ${kind}: ${describeZodError(params.error)}` });
        continue;
      }
      const log = this.opts.log.child({ probe: kind });
      const supervisor = new ProbeSupervisor(
        want,
        this.catalog.factory(kind, want.version),
        {
          emit: (content) => void this.publisher?.publish(kind, want.version, content),
          reportError: (err: Error) => {
            this.opts.metrics.probeErrors.inc({ probe: kind });
            log.warn({ err: err.message }, "probe error");
          },
          onCost: (cost) => this.opts.metrics.recordProbeCost(kind, cost),
          log,
        },
        () => this.reporter?.changed(),
        () => this.opts.metrics.probeRestarts.inc({ probe: kind }),
        log,
      );
      this.supervisors.set(kind, supervisor);
      starting.push(supervisor.start());
    }
    await Promise.all(starting);
    this.appliedPolicies = Object.fromEntries(policies.map(([id, p]) => [id, p.revision]));
    // Report at once only what changed here: a policy write reaches every agent of the
    // tenant, and at 10,000 agents a status from each, when a wave step changed a hundred of
    // them, floods the status stream ahead of the hundred that matter. The applied revisions
    // alone ride the next heartbeat.
    if (this.reportedState() !== before) this.reporter?.changed();
  }

  /** What a reconcile can change that is worth a status at once: the probes and their policies, conflicts, unusable policies. */
  private reportedState(): string {
    return JSON.stringify([this.probeStatuses().map((p) => [p.kind, p.version, p.policyId, p.state]), this.conflicts, [...this.invalidPolicies()]]);
  }
}
