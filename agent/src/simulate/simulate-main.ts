import { readFile } from "node:fs/promises";
import type { ServerType } from "@hono/node-server";
import { parseCreds } from "@probepilot/shared/nkeys";
import { Gauge } from "prom-client";
import { PROBE_STATES } from "@probepilot/shared";
import { createAgentLogger } from "../logger.ts";
import { createAgentMetrics, type AgentMetrics } from "../metrics.ts";
import { startOpsServer } from "../ops/ops-server.ts";
import { EnrollRefusedError } from "../identity/enroll.ts";
import { parseSimulateEnv, SIMULATE_USAGE } from "./simulate-env.ts";
import { startSimulatedFleet, type FleetCounts, type FleetProgress, type SimulatedFleet } from "./fleet.ts";

/** Progress lines while the fleet starts: at most one a second (and the last one). */
const PROGRESS_EVERY_MS = 1000;
/** A summary of the fleet's probes is logged this often, when it changed. */
const SUMMARY_EVERY_MS = 10_000;
/** A scrape reads every agent's probes; metrics collected together within this window share one pass. */
const COUNTS_CACHE_MS = 200;

/**
 * The simulator's own gauges on the agents' shared registry, read from the fleet
 * at scrape time (no timers): agents by state, their probes by state, connections.
 */
function registerFleetMetrics(metrics: AgentMetrics, fleet: () => SimulatedFleet | null, target: number): void {
  let cached: { at: number; counts: FleetCounts } | null = null;
  const counts = (): FleetCounts | null => {
    const f = fleet();
    if (!f) return null;
    if (!cached || Date.now() - cached.at > COUNTS_CACHE_MS) cached = { at: Date.now(), counts: f.counts() };
    return cached.counts;
  };
  const registers = [metrics.registry];
  new Gauge({ name: "probepilot_sim_agents_target", help: "Simulated agents this simulator runs (--agents)", registers, collect() { this.set(target); } });
  new Gauge({
    name: "probepilot_sim_agents",
    help: "Simulated agents by state: waiting (not started yet), starting (enrolling), running, failed (could not start), stopped",
    labelNames: ["state"] as const,
    registers,
    collect() {
      const c = counts();
      for (const state of ["waiting", "starting", "running", "failed", "stopped"] as const) this.set({ state }, c ? c.agents[state] : state === "waiting" ? target : 0);
    },
  });
  new Gauge({
    name: "probepilot_sim_probes",
    help: "Probes of the running simulated agents, by the state they report",
    labelNames: ["state"] as const,
    registers,
    collect() {
      const c = counts();
      for (const state of PROBE_STATES) this.set({ state }, c?.probes[state] ?? 0);
    },
  });
  new Gauge({
    name: "probepilot_sim_nats_connections",
    help: "NATS connections the simulated agents share, by state (up, total)",
    labelNames: ["state"] as const,
    registers,
    collect() {
      const c = counts();
      this.set({ state: "total" }, c?.connections.total ?? 0);
      this.set({ state: "up" }, c?.connections.connected ?? 0);
    },
  });
}

/**
 * `probepilot-agent simulate …`: runs a simulated fleet until SIGINT/SIGTERM.
 * Resolves to an exit code, or -1 to keep running (as the agent's `main` does).
 */
export async function simulateMain(argv: string[]): Promise<number> {
  if (argv.includes("-h") || argv.includes("--help")) {
    process.stdout.write(SIMULATE_USAGE);
    return 0;
  }
  let env;
  try {
    env = parseSimulateEnv(argv, process.env);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${SIMULATE_USAGE}`);
    return 2;
  }
  const log = createAgentLogger(env.logLevel).child({ simulator: env.namePrefix });
  const agentLog = createAgentLogger(env.agentLogLevel).child({ simulator: env.namePrefix });
  const metrics = createAgentMetrics();
  let fleet: SimulatedFleet | null = null;
  let phase: "connecting" | "starting" | "running" | "stopping" = "connecting";
  registerFleetMetrics(metrics, () => fleet, env.agents);

  const ops: ServerType | null =
    env.opsPort === null
      ? null
      : await startOpsServer(
          `127.0.0.1:${env.opsPort}`,
          () => {
            const c = fleet?.counts();
            // Healthy once every agent runs over connected NATS, like a real agent's /healthz once enrolled.
            const ok = phase === "running" && !!c && c.agents.running === c.agents.total && c.connections.connected === c.connections.total;
            return { ok, phase, agents: c?.agents ?? null, probes: c?.probes ?? null, connections: c?.connections ?? null };
          },
          metrics.registry,
        );
  if (ops) {
    const address = ops.address();
    log.info({ url: `http://127.0.0.1:${typeof address === "object" && address ? address.port : env.opsPort}` }, "simulator /healthz and /metrics listening");
  }

  let lastSummary = "";
  const summary = setInterval(() => {
    if (!fleet || phase !== "running") return;
    const c = fleet.counts();
    const probes = Object.fromEntries(Object.entries(c.probes).filter(([, n]) => n > 0));
    const text = JSON.stringify([c.agents, probes, c.connections]);
    if (text === lastSummary) return;
    lastSummary = text;
    log.info({ agents: c.agents, probes, connections: c.connections }, "simulated fleet");
  }, SUMMARY_EVERY_MS);
  summary.unref();

  let stopping: Promise<void> | null = null;
  const shutdown = (why: string, code: number): Promise<void> =>
    (stopping ??= (async () => {
      phase = "stopping";
      log.info({ reason: why }, "stopping the simulated fleet");
      clearInterval(summary);
      await fleet?.stop(`simulated agent stopped: ${why}`).catch((err) => log.error({ err }, "error while stopping the simulated fleet"));
      ops?.close();
      process.exit(code);
    })());
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    // A second signal while the fleet says goodbye: the operator wants out now.
    if (++signals > 1) process.exit(130);
    void shutdown(signal, 0);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  log.info(
    { agents: env.agents, connections: env.connections ?? "auto", natsUrl: env.natsUrl, dataDir: env.dataDir, heartbeatSec: env.heartbeatSec, labels: env.labels.length, strata: env.strata.length, fail: env.fail.map((r) => r.text), unsupported: env.unsupported.map((r) => r.text), cost: env.cost.map((r) => r.text) },
    "starting simulated fleet",
  );
  let lastProgress = 0;
  const onProgress = (p: FleetProgress) => {
    const done = p.started + p.failed === p.total;
    if (!done && Date.now() - lastProgress < PROGRESS_EVERY_MS) return;
    lastProgress = Date.now();
    log.info({ started: p.started, reused: p.reused, failed: p.failed, total: p.total, elapsedMs: p.elapsedMs }, `enrolled ${p.started}/${p.total} agents`);
  };

  let simulatorCreds;
  try {
    simulatorCreds = parseCreds(await readFile(env.credsFile, "utf8"));
  } catch (err) {
    log.fatal({ file: env.credsFile, err: (err as Error).message }, "cannot read the simulator credentials (make them with `probepilot nats simulator-creds --out FILE`)");
    await shutdown("no credentials", 1);
    return 1;
  }
  const startedAt = Date.now();
  fleet = await startSimulatedFleet({
    natsUrl: env.natsUrl,
    ...(env.caFile ? { natsCaFile: env.caFile } : {}),
    simulatorCreds,
    controlPlane: { url: env.controlPlaneUrl, ...(env.caFile ? { caFile: env.caFile } : {}) },
    agents: env.agents,
    ...(env.connections !== null ? { connections: env.connections } : {}),
    ...(env.enrollToken ? { enrollToken: env.enrollToken } : {}),
    dataDir: env.dataDir,
    namePrefix: env.namePrefix,
    labels: env.labels,
    strata: env.strata,
    probes: { fail: env.fail, unsupported: env.unsupported, cost: env.cost, startDelayMs: env.startDelayMs },
    heartbeatSec: env.heartbeatSec,
    enrollConcurrency: env.enrollConcurrency,
    log,
    agentLog,
    metrics,
    onProgress,
  });
  if (stopping) return -1; // a signal arrived while connecting; shutdown() stops what was started
  phase = "starting";
  try {
    await fleet.ready;
    phase = "running";
    log.info({ agents: env.agents, connections: fleet.connections.length, elapsedMs: Date.now() - startedAt, rssBytes: process.memoryUsage.rss() }, "simulated fleet running");
  } catch (err) {
    if (stopping) return -1;
    if (err instanceof EnrollRefusedError) {
      log.fatal({ err: err.message }, "the control plane refused to enroll simulated agents");
      await shutdown("enrollment refused", 1);
      return 1;
    }
    // Some agents could not start even after retries: keep the others running, and say so.
    phase = "running";
    log.error({ err: (err as Error).message }, "simulated fleet running with agents missing");
  }
  return -1;
}
