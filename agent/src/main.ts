import { rm } from "node:fs/promises";
import { buildHello } from "./host/hello.ts";
import { ensureTracefs } from "./host/tracefs.ts";
import { AGENT_USAGE, parseAgentEnv, type AgentEnv } from "./env.ts";
import { createAgentLogger, type Logger } from "./logger.ts";
import { createAgentMetrics } from "./metrics.ts";
import { startOpsServer } from "./ops/ops-server.ts";
import { Agent } from "./agent.ts";
import { EXIT_REVOKED, EnrollRefusedError, enrollAgent } from "./identity/enroll.ts";
import { AgentCredentials, type CredentialsLost } from "./identity/agent-credentials.ts";
import { credsFile, identityFile, loadIdentity, type StoredIdentity } from "./identity/identity-store.ts";
import { closeNats } from "./bus/close-nats.ts";
import { connectAgentNats } from "./bus/connect.ts";
import { watchParent } from "./parent-watch.ts";
import type { AgentHello } from "@probepilot/shared";

/** Exit code asking the supervisor to start the agent again (EX_TEMPFAIL): its identity was dropped and it enrolls afresh. */
const EXIT_ENROLL_AGAIN = 75;

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

  const shutdownSignal = new AbortController();
  let onLost: (l: CredentialsLost) => void = () => {};

  // 1. An identity and NATS credentials: stored, or enrolled now over the control plane's API.
  let stored: StoredIdentity;
  let credentials: AgentCredentials;
  try {
    stored = await identityOrEnroll(env, hello, log, shutdownSignal.signal);
    credentials = new AgentCredentials(stored, { dataDir: env.dataDir, controlPlane: controlPlaneOf(env), log, onLost: (l) => onLost(l) });
    await credentials.renewIfExpired(shutdownSignal.signal);
  } catch (err) {
    if (err instanceof EnrollRefusedError) return refusedExit(err, env, log);
    throw err;
  }

  // 2. Connect as this agent and stay connected: the agent outlives NATS outages.
  onLost = (l) => {
    // Revoked or unknown before the first connection: nothing runs yet, just say why and exit.
    void lostExit(l, env, log).then((code) => process.exit(code));
  };
  const nc = await connectAgentNats({ natsUrl: env.natsUrl, caFile: env.caFile, name: `probepilot-agent@${hello.hostname}`, credentials, log, signal: shutdownSignal.signal });
  metrics.natsConnected.set(1);
  credentials.watch(nc);
  const agent = new Agent({ nc, identity: stored.identity, hello, dataDir: env.dataDir, heartbeatSec: env.heartbeatSec, defaultProbes: env.defaultProbes, spoolMaxBytes: env.spoolMaxBytes, ...(env.bpfDir ? { bpfDir: env.bpfDir } : {}), log, metrics });
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
    ? await startOpsServer(env.httpAddr, () => ({ ok: natsUp && agent.agentId !== undefined, nats: natsUp, agentId: agent.agentId, labels: agent.labels, probes: agent.probeStatuses(), credsExpireAt: new Date(credentials.expiresAt).toISOString() }), metrics.registry)
    : null;

  let stopping = false;
  const shutdown = async (signal: string, code = 0) => {
    if (stopping) return;
    stopping = true;
    shutdownSignal.abort();
    credentials.stop();
    log.info({ signal }, "shutting down");
    await agent.stop(`agent stopped by ${signal}`).catch((err) => log.error({ err }, "error while stopping"));
    await closeNats(nc);
    ops?.close();
    log.info("agent stopped");
    process.exit(code);
  };
  process.once("SIGINT", () => void shutdown("SIGINT"));
  process.once("SIGTERM", () => void shutdown("SIGTERM"));
  // The control plane revoked this agent, or no longer knows it: stop (probes unloaded) and say why.
  onLost = (l) => void lostExit(l, env, log).then((code) => shutdown(l.reason === "revoked" ? "revocation" : "unknown identity", code));
  onParentGone = (parent) => {
    log.warn({ parent }, "parent process gone (PROBEPILOT_EXIT_WITH_PARENT): stopping");
    setTimeout(() => process.exit(1), 15_000).unref(); // a stop that hangs must not leave an orphan behind
    void shutdown("parent exit");
  };

  try {
    await agent.start();
  } catch (err) {
    if (stopping) return -1;
    if (err instanceof EnrollRefusedError) {
      const code = await refusedExit(err, env, log);
      await shutdown("refused", code);
      return -1;
    }
    throw err;
  }
  return -1; // keep running until a signal
}

const controlPlaneOf = (env: AgentEnv) => ({ url: env.controlPlaneUrl, ...(env.caFile ? { caFile: env.caFile } : {}) });

/** The stored identity, or a new one enrolled with the enrollment token (also when the stored one predates NKEY credentials). */
async function identityOrEnroll(env: AgentEnv, hello: AgentHello, log: Logger, signal: AbortSignal): Promise<StoredIdentity> {
  const loaded = await loadIdentity(env.dataDir);
  if (loaded && !loaded.legacy) return loaded;
  if (loaded?.legacy) log.warn({ file: identityFile(env.dataDir) }, "this identity predates NKEY credentials; enrolling again (a new agent id)");
  if (!env.enrollToken) throw new EnrollRefusedError("this agent has no identity yet: pass --enroll-token (or PROBEPILOT_ENROLL_TOKEN) from `probepilot enroll-tokens create`", "UNAUTHORIZED");
  return enrollAgent({ controlPlane: controlPlaneOf(env), hello, dataDir: env.dataDir, enrollToken: env.enrollToken, log, signal });
}

/** Exit code for a refusal: revoked → 78 (do not restart); an identity the control plane does not know → enroll again when a token is at hand. */
async function refusedExit(err: EnrollRefusedError, env: AgentEnv, log: Logger): Promise<number> {
  if (err.code === "FORBIDDEN") return lostExit({ reason: "revoked", message: err.message }, env, log);
  const known = await loadIdentity(env.dataDir).catch(() => null);
  if (err.code === "UNAUTHORIZED" && known && !known.legacy) return lostExit({ reason: "unknown", message: err.message }, env, log);
  log.fatal(err.message);
  return 1;
}

async function lostExit(lost: CredentialsLost, env: AgentEnv, log: Logger): Promise<number> {
  if (lost.reason === "revoked") {
    log.fatal({ reason: lost.message }, `this agent was revoked; it stops and must not be restarted (exit ${EXIT_REVOKED}). To bring the host back, remove ${env.dataDir}/identity.json and nats.creds and enroll it again`);
    return EXIT_REVOKED;
  }
  if (!env.enrollToken) {
    log.fatal({ reason: lost.message }, "the control plane does not know this agent; remove its identity and start it with --enroll-token to enroll again");
    return 1;
  }
  log.warn({ reason: lost.message }, `the control plane does not know this agent; dropping its identity and exiting (${EXIT_ENROLL_AGAIN}) to enroll again with the enrollment token`);
  await rm(identityFile(env.dataDir), { force: true });
  await rm(credsFile(env.dataDir), { force: true });
  return EXIT_ENROLL_AGAIN;
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
