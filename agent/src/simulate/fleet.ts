import { readdir } from "node:fs/promises";
import path from "node:path";
import { connect, type ConnectionOptions, type NatsConnection } from "nats";
import { NkeyPair, nkeyAuthenticator } from "@probepilot/shared/nkeys";
import { PROBE_STATES, type AgentHello, type ProbeState } from "@probepilot/shared";
import { Agent } from "../agent.ts";
import type { Logger } from "../logger.ts";
import { createAgentMetrics, type AgentMetrics } from "../metrics.ts";
import { EnrollRefusedError, enrollAgent } from "../identity/enroll.ts";
import { closeNats } from "../bus/close-nats.ts";
import { loadIdentity, type AgentIdentity } from "../identity/identity-store.ts";
import type { ControlPlaneEndpoint } from "../identity/control-plane-client.ts";
import { DEFAULT_STRATA_SPEC, parseStrataSpec, type LabelsSpec, type StrataSpec } from "./fleet-spec.ts";
import { SimulatedProbeCatalog, type SimulatedProbeBehaviour } from "./simulated-catalog.ts";
import { simulatedHello, simulatedHostname } from "./simulated-host.ts";

/** Agents per NATS connection when `connections` is not given. */
export const AGENTS_PER_CONNECTION = 1000;
export const DEFAULT_SIM_HEARTBEAT_SEC = 30;
export const DEFAULT_ENROLL_CONCURRENCY = 100;
export const DEFAULT_START_DELAY_MS = { min: 20, max: 100 };
/** Agents stopping at once: each publishes a goodbye and waits for its ack. */
const STOP_CONCURRENCY = 500;
/** An agent whose start failed for a transient reason (a JetStream request timed out under load) is tried again this often in all. */
const START_ATTEMPTS = 3;

export type SimulatedFleetOptions = {
  /** NATS server(s), comma-separated. */
  natsUrl: string;
  /** CA of the NATS servers' TLS certificates (with `tls://` URLs). */
  natsCaFile?: string;
  /**
   * The tenant's simulator user (`probepilot nats simulator-creds`): one NATS user for the
   * whole fleet, allowed to speak for any agent of that tenant only.
   */
  simulatorCreds: { jwt: string; seed: string };
  /** Where agents enroll (each makes its own NKEY pair, as a real agent does). */
  controlPlane: ControlPlaneEndpoint;
  /** How many agents (1..50000). */
  agents: number;
  /** NATS connections the agents share, round-robin (default ceil(agents / 1000)). */
  connections?: number;
  /** Needed unless every agent already has an identity under `dataDir`. */
  enrollToken?: string;
  /** Each agent keeps its identity (and its empty spool) in `<dataDir>/<hostname>`: a second run re-identifies instead of enrolling. */
  dataDir: string;
  /** Host names are `sim-<namePrefix>-00001`…; two fleets on one control plane need different prefixes. Default "fleet". */
  namePrefix?: string;
  labels?: LabelsSpec;
  /** Default {@link DEFAULT_STRATA_SPEC}. */
  strata?: StrataSpec;
  probes?: Partial<SimulatedProbeBehaviour>;
  /** Default 30 s: 10,000 agents then send 333 heartbeats/s. */
  heartbeatSec?: number;
  /** Agents enrolling (and starting) at once. Default 100. */
  enrollConcurrency?: number;
  /** The fleet's own log (progress, failures). */
  log: Logger;
  /** Parent of the per-agent loggers (default: `log`). */
  agentLog?: Logger;
  /** Shared by every agent (counters add up over the fleet). Default: a fresh registry. */
  metrics?: AgentMetrics;
  /** Called after every agent's start settles. */
  onProgress?: (progress: FleetProgress) => void;
  /** Overrides for the NATS connections (tests shorten `reconnectTimeWait`). */
  natsOptions?: Partial<ConnectionOptions>;
};

export type FleetProgress = {
  total: number;
  /** Agents running (enrolled now or with an identity from an earlier run). */
  started: number;
  /** Of `started`, those that re-identified with an identity from an earlier run. */
  reused: number;
  /** Agents that could not start (after retries). */
  failed: number;
  elapsedMs: number;
};

export type SimulatedAgentState = "waiting" | "starting" | "running" | "failed" | "stopped";

/** One simulated agent: the real `Agent`, on a simulated host, with simulated probes. */
export type SimulatedAgent = {
  readonly index: number;
  readonly hostname: string;
  readonly dataDir: string;
  /** Index of the shared NATS connection it uses. */
  readonly connection: number;
  readonly hello: AgentHello;
  /** Null until its start begins. */
  agent: Agent | null;
  state: SimulatedAgentState;
  /** It had an identity from an earlier run (said hello rather than enrolled). */
  reused: boolean;
  /** Why it could not start. */
  error?: string;
};

export type FleetCounts = {
  agents: Record<SimulatedAgentState, number> & { total: number };
  /** Probes of running agents, by state (what their statuses report). */
  probes: Record<ProbeState, number>;
  connections: { total: number; connected: number };
};

export type SimulatedFleet = {
  readonly agents: readonly SimulatedAgent[];
  readonly connections: readonly NatsConnection[];
  readonly metrics: AgentMetrics;
  /** Every agent started. Rejects when the control plane refused an enrollment (nothing more is started) or agents failed to start after retries. */
  readonly ready: Promise<void>;
  counts(): FleetCounts;
  /** Stop every agent (each says goodbye, so the control plane marks it offline at once), then close the connections. */
  stop(reason?: string): Promise<void>;
};

/**
 * Start `agents` simulated agents in this process: real `Agent`s (enrollment,
 * config watch, policy watch, reconcile, probe supervisors, status reports)
 * over a few shared NATS connections, with only the hosts and the probe
 * runtimes simulated. Agents start `enrollConcurrency` at a time; `ready`
 * resolves when all run. No default probes: agents run only what policies ask for.
 */
export async function startSimulatedFleet(opts: SimulatedFleetOptions): Promise<SimulatedFleet> {
  const total = opts.agents;
  if (!Number.isInteger(total) || total < 1) throw new RangeError(`agents must be a whole number of at least 1, got ${total}`);
  const connectionCount = Math.min(total, opts.connections ?? Math.ceil(total / AGENTS_PER_CONNECTION));
  if (!Number.isInteger(connectionCount) || connectionCount < 1) throw new RangeError(`connections must be a whole number of at least 1, got ${opts.connections}`);
  const prefix = opts.namePrefix ?? "fleet";
  const strata = opts.strata ?? parseStrataSpec(DEFAULT_STRATA_SPEC);
  const labels = opts.labels ?? [];
  const behaviour: SimulatedProbeBehaviour = {
    fail: opts.probes?.fail ?? [],
    unsupported: opts.probes?.unsupported ?? [],
    cost: opts.probes?.cost ?? [],
    startDelayMs: opts.probes?.startDelayMs ?? DEFAULT_START_DELAY_MS,
  };
  const heartbeatSec = opts.heartbeatSec ?? DEFAULT_SIM_HEARTBEAT_SEC;
  const concurrency = Math.max(1, opts.enrollConcurrency ?? DEFAULT_ENROLL_CONCURRENCY);
  const metrics = opts.metrics ?? createAgentMetrics();
  const log = opts.log;
  const agentLog = opts.agentLog ?? log;

  // Hellos are built first (a bad spec fails before any connection opens), once: agent i keeps its labels and host between runs.
  const agents: SimulatedAgent[] = Array.from({ length: total }, (_, index) => {
    const hostname = simulatedHostname(prefix, index, total);
    return {
      index,
      hostname,
      dataDir: path.join(opts.dataDir, hostname),
      connection: index % connectionCount,
      hello: simulatedHello({ prefix, index, total, labels, strata }),
      agent: null,
      state: "waiting",
      reused: false,
    };
  });

  const simulatorKey = NkeyPair.fromSeed(opts.simulatorCreds.seed);
  const connections = await Promise.all(
    Array.from({ length: connectionCount }, (_, k) =>
      connect({
        servers: opts.natsUrl.split(","),
        name: `probepilot-sim@${prefix}#${k}`,
        authenticator: nkeyAuthenticator(() => ({ jwt: opts.simulatorCreds.jwt, key: simulatorKey })),
        ...(opts.natsCaFile ? { tls: { caFile: opts.natsCaFile } } : {}),
        maxReconnectAttempts: -1,
        reconnectTimeWait: 1000,
        waitOnFirstConnect: true,
        ...opts.natsOptions,
      }),
    ),
  );
  const connected = connections.map(() => true);
  const syncConnected = () => metrics.natsConnected.set(connected.every(Boolean) ? 1 : 0);
  syncConnected();
  // One status loop per connection, not per agent (each Agent follows its connection's reconnects itself).
  connections.forEach((nc, k) => {
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === "disconnect" || s.type === "reconnect") {
          connected[k] = s.type === "reconnect";
          syncConnected();
          log[s.type === "disconnect" ? "warn" : "info"]({ connection: k }, s.type === "disconnect" ? "NATS connection lost; reconnecting" : "NATS connection back");
        }
      }
    })();
  });

  // One readdir instead of a stat per agent: whose identity an earlier run left (for the progress line only).
  const earlier = new Set(await readdir(opts.dataDir).catch(() => [] as string[]));
  const startedAt = Date.now();
  let stopping = false;
  /** Aborts enrollments still retrying when the fleet stops. */
  const stopSignal = new AbortController();
  let refused: Error | null = null;
  let failed = 0;
  let started = 0;
  let reused = 0;
  const firstErrors: string[] = [];

  const newAgent = (a: SimulatedAgent, identity: AgentIdentity): Agent => {
    const agent: Agent = new Agent({
      nc: connections[a.connection]!,
      identity,
      hello: a.hello,
      dataDir: a.dataDir,
      heartbeatSec,
      defaultProbes: [],
      log: agentLog.child({ host: a.hostname }),
      metrics,
      catalog: new SimulatedProbeCatalog(behaviour, () => agent.agentId),
    });
    return agent;
  };

  /** The agent's identity from an earlier run, or a new one: it enrolls over the control plane's API with its own key. */
  const identityOf = async (a: SimulatedAgent): Promise<AgentIdentity> => {
    const loaded = earlier.has(a.hostname) ? await loadIdentity(a.dataDir) : null;
    a.reused = Boolean(loaded && !loaded.legacy);
    if (loaded && !loaded.legacy) return loaded.identity;
    if (!opts.enrollToken) throw new EnrollRefusedError(`${a.hostname} has no identity under ${opts.dataDir}: pass an enrollment token`, "UNAUTHORIZED");
    const enrolled = await enrollAgent({ controlPlane: opts.controlPlane, hello: a.hello, dataDir: a.dataDir, enrollToken: opts.enrollToken, log: agentLog.child({ host: a.hostname }), signal: stopSignal.signal });
    earlier.add(a.hostname); // a retry of its start finds it
    return enrolled.identity;
  };

  const startOne = async (a: SimulatedAgent): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      a.state = "starting";
      let agent: Agent | null = null;
      try {
        agent = a.agent = newAgent(a, await identityOf(a));
        await agent.start();
        a.state = "running";
        return;
      } catch (err) {
        // Whatever it set up (a watch, a reporter) goes; a retry starts a fresh Agent with the identity it enrolled.
        await agent?.stop("simulated agent failed to start").catch(() => {});
        if (stopping) {
          a.state = "stopped";
          return;
        }
        const message = (err as Error).message;
        if (err instanceof EnrollRefusedError || attempt >= START_ATTEMPTS) {
          a.state = "failed";
          a.error = message;
          throw err;
        }
        log.warn({ host: a.hostname, attempt, err: message }, "simulated agent failed to start; trying again");
      }
    }
  };

  let next = 0;
  const worker = async () => {
    while (!stopping && !refused && next < total) {
      const a = agents[next++]!;
      try {
        await startOne(a);
        if (a.state === "running") {
          started++;
          if (a.reused) reused++;
        }
      } catch (err) {
        failed++;
        if (firstErrors.length < 3) firstErrors.push(`${a.hostname}: ${(err as Error).message}`);
        if (err instanceof EnrollRefusedError) refused ??= err;
        else log.error({ host: a.hostname, err: (err as Error).message }, "simulated agent could not start");
      }
      opts.onProgress?.({ total, started, reused, failed, elapsedMs: Date.now() - startedAt });
    }
  };
  const launch = Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  const ready = launch.then(() => {
    if (refused) throw refused;
    if (stopping) throw new Error(`the fleet was stopped while starting (${started} of ${total} agents had started)`);
    if (failed > 0) throw new Error(`${failed} of ${total} simulated agents could not start; first: ${firstErrors.join("; ")}`);
  });
  ready.catch(() => {}); // the caller may never look at `ready` (stop during start); stop() handles the agents

  const counts = (): FleetCounts => {
    const byState = { total, waiting: 0, starting: 0, running: 0, failed: 0, stopped: 0 };
    const probes = Object.fromEntries(PROBE_STATES.map((s) => [s, 0])) as Record<ProbeState, number>;
    for (const a of agents) {
      byState[a.state]++;
      if (a.state !== "running" || !a.agent) continue;
      for (const p of a.agent.probeStatuses()) probes[p.state]++;
    }
    return { agents: byState, probes, connections: { total: connectionCount, connected: connected.filter(Boolean).length } };
  };

  let stopped: Promise<void> | null = null;
  const stop = (reason = "simulated fleet stopped"): Promise<void> =>
    (stopped ??= (async () => {
      stopping = true;
      stopSignal.abort(new Error(reason));
      // Agents still enrolling: abort their retry loops now (an enrollment past its request finishes its start, and is stopped below).
      await Promise.all(agents.filter((a) => a.state === "starting").map((a) => a.agent?.stop(reason).catch(() => {})));
      await launch;
      const running = agents.filter((a) => a.state === "running");
      let i = 0;
      await Promise.all(
        Array.from({ length: Math.min(STOP_CONCURRENCY, running.length) }, async () => {
          while (i < running.length) {
            const a = running[i++]!;
            await a.agent!.stop(reason).catch((err) => log.warn({ host: a.hostname, err: (err as Error).message }, "simulated agent did not stop cleanly"));
            a.state = "stopped";
          }
        }),
      );
      for (const a of agents) if (a.state === "waiting" || a.state === "starting") a.state = "stopped";
      // Goodbyes are acked by now; draining flushes anything else still buffered.
      await Promise.all(connections.map((nc) => closeNats(nc)));
      log.info({ stopped: running.length, total }, "simulated fleet stopped");
    })());

  return { agents, connections, metrics, ready, counts, stop };
}
