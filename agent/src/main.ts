import { connect } from "nats";
import { buildHello } from "./host/hello.ts";
import { ensureTracefs } from "./host/tracefs.ts";
import { AGENT_USAGE, parseAgentEnv } from "./env.ts";
import { createAgentLogger } from "./logger.ts";
import { createAgentMetrics } from "./metrics.ts";
import { startOpsServer } from "./ops/ops-server.ts";
import { Agent } from "./agent.ts";
import { EnrollRefusedError } from "./bus/enroll.ts";
import { closeNats } from "./bus/close-nats.ts";
import { watchParent } from "./parent-watch.ts";

/** `probepilot-agent`: the host agent process (`probepilot-agent simulate` is the fleet simulator, see simulate/simulate-main.ts). */
async function main(argv: string[]): Promise<number> {
  if (argv.includes("-h") || argv.includes("--help")) {
    process.stdout.write(AGENT_USAGE);
    return 0;
  }
  let env;
  try {
    env = parseAgentEnv(argv, process.env);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${AGENT_USAGE}`);
    return 2;
  }
  const log = createAgentLogger(env.logLevel);
  const metrics = createAgentMetrics();
  // Until the agent runs there is nothing to stop cleanly; from then on, the same shutdown as SIGTERM.
  let onParentGone: (parent: number) => void = (parent) => {
    log.warn({ parent }, "parent process gone (PROBEPILOT_EXIT_WITH_PARENT): exiting");
    process.exit(0);
  };
  if (env.exitWithParent !== null) watchParent(env.exitWithParent === "parent" ? process.ppid : env.exitWithParent, (parent) => onParentGone(parent));

  // Classic tracepoints need tracefs: mount it where libbpf looks when the host has not.
  const tracefs = await ensureTracefs();
  if (tracefs.mounted) log.info({ path: tracefs.path }, "mounted tracefs");
  else if (tracefs.error) log.warn({ err: tracefs.error }, "tracefs is not mounted and could not be: tracepoint probes will report unsupported");
  const hello = await buildHello(env.labels);
  log.info({ hostname: hello.hostname, os: hello.os, kernel: hello.kernel, arch: hello.arch, capabilities: hello.capabilities, labels: env.labels }, "host detected");

  // Connect and stay connected: the agent outlives NATS outages.
  const nc = await connect({ servers: env.natsUrl.split(","), name: `probepilot-agent@${hello.hostname}`, maxReconnectAttempts: -1, reconnectTimeWait: 1000, waitOnFirstConnect: true });
  metrics.natsConnected.set(1);
  const agent = new Agent({ nc, hello: hello, dataDir: env.dataDir, enrollToken: env.enrollToken, heartbeatSec: env.heartbeatSec, defaultProbes: env.defaultProbes, spoolMaxBytes: env.spoolMaxBytes, ...(env.bpfDir ? { bpfDir: env.bpfDir } : {}), log, metrics });
  let natsUp = true;
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect") {
        natsUp = false;
        metrics.natsConnected.set(0);
        log.warn("NATS disconnected; reconnecting");
      } else if (s.type === "reconnect") {
        natsUp = true;
        metrics.natsConnected.set(1);
        log.info("NATS reconnected"); // the agent itself catches up (config, policy watch, status)
      }
    }
  })();

  const ops = env.httpAddr
    ? await startOpsServer(env.httpAddr, () => ({ ok: natsUp && agent.agentId !== undefined, nats: natsUp, agentId: agent.agentId ?? null, labels: agent.labels, probes: agent.probeStatuses() }), metrics.registry)
    : null;

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down");
    await agent.stop(`agent stopped by ${signal}`).catch((err) => log.error({ err }, "error while stopping"));
    await closeNats(nc);
    ops?.close();
    log.info("agent stopped");
    process.exit(0);
  };
  process.once("SIGINT", () => void shutdown("SIGINT"));
  process.once("SIGTERM", () => void shutdown("SIGTERM"));
  onParentGone = (parent) => {
    log.warn({ parent }, "parent process gone (PROBEPILOT_EXIT_WITH_PARENT): stopping");
    setTimeout(() => process.exit(1), 15_000).unref(); // a stop that hangs must not leave an orphan behind
    void shutdown("parent exit");
  };

  try {
    await agent.start();
  } catch (err) {
    if (stopping) return 0;
    if (err instanceof EnrollRefusedError) {
      log.fatal(err.message);
      await nc.close();
      return 1;
    }
    throw err;
  }
  return -1; // keep running until a signal
}

const argv = process.argv.slice(2);
// `probepilot-agent simulate …` runs the fleet simulator instead (loaded only then: the agent itself does not pay for it).
const run = argv[0] === "simulate" ? import("./simulate/simulate-main.ts").then((m) => m.simulateMain(argv.slice(1))) : main(argv);
run.then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err) => {
    process.stderr.write(`probepilot-agent: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
