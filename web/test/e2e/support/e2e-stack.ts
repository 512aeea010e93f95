import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, open, rm, type FileHandle } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { startHarness, type Harness } from "@probepilot/testkit/control-plane-harness";
import { startTestFleet, type TestFleet } from "@probepilot/testkit/rollout-fleet";
import { loadIdentity } from "@probepilot/agent/identity/identity-store";
import { LOGS_DIR } from "./artifacts.ts";
import { waitFor } from "@probepilot/testkit/poll";
import { AGENT_BIN } from "@probepilot/testkit/bins";


/** Labels that tell the tests' agents apart: the real local agent has `env=e2e`, the simulated fleet `env=sim`. */
export const LOCAL_AGENT_SELECTOR = "env=e2e";
export const FLEET_SELECTOR = "env=sim";
/**
 * The real agent also runs the `cpu_profile` eBPF probe (the Explore flamegraph needs it),
 * unless the kernel tests are skipped on purpose (PROBEPILOT_SKIP_KERNEL_TESTS=1): then it
 * runs the procfs host probe only, and the flamegraph test says it is skipped and why.
 */
export const PROFILING = process.env.PROBEPILOT_SKIP_KERNEL_TESTS !== "1";

export type E2eStack = {
  /** The control plane (fresh database, its own nats-server) serving the web app under test. */
  h: Harness;
  /** Where the browser goes: the control plane's URL, which serves the app at `/` and the API at `/trpc`. */
  url: string;
  adminToken: string;
  /** The real `probepilot-agent` process on this host. */
  localAgent: { id: string; hostname: string };
  /** The simulated fleet (real agent code, simulated hosts) that rollouts stage waves over. */
  fleet: TestFleet;
  fleetSize: number;
  stop: () => Promise<void>;
};

/**
 * What the browser tests run against, all real: a control plane serving the web
 * app built for this run (`webDir`), one `probepilot-agent` process enrolled with
 * a fresh enrollment token (the host probe for the CPU chart and `cpu_profile` for
 * the flamegraph — see PROFILING; the other eBPF defaults would only add load to a
 * shared machine), and a simulated fleet
 * so that a rollout has several waves. The agent's log goes to
 * test-artifacts/logs/e2e-local-agent.log.
 */
export async function startE2eStack(opts: { webDir: string; fleetSize?: number }): Promise<E2eStack> {
  const fleetSize = opts.fleetSize ?? 20;
  const h = await startHarness({ PROBEPILOT_WEB_DIR: opts.webDir });
  let agent: RunningAgent | undefined;
  let fleet: TestFleet | undefined;
  try {
    // The real agent first: it is what the UI tests look at first, and it enrolls while the fleet starts.
    agent = await startLocalAgent(h);
    fleet = await startTestFleet(h, { agents: fleetSize, labels: `${FLEET_SELECTOR},region=eu|us`, namePrefix: "e2e", heartbeatSec: 2 });
    const running = agent;
    const local = await waitFor(async () => {
        const a = await h.client().agents.get.query({ id: running.id });
        return a.status === "online" ? { id: a.id, hostname: a.hostname } : undefined;
      }, { what: "the local agent online in the control plane", timeoutMs: 60_000, debug: running.output });
    const started = { agent, fleet };
    return {
      h,
      url: h.cp.url,
      adminToken: h.adminToken,
      localAgent: local,
      fleet,
      fleetSize,
      stop: async () => {
        // Agents before the control plane, so they leave cleanly instead of reconnecting to nothing.
        await Promise.all([started.agent.stop(), started.fleet.stop()]);
        await h.stop();
      },
    };
  } catch (error) {
    await Promise.allSettled([agent?.stop(), fleet?.stop()]);
    await h.stop();
    throw error;
  }
}

type RunningAgent = { id: string; output: () => string; stop: () => Promise<void> };

/** Spawn `probepilot-agent` as `npm start` does (agent/bin, token in the environment), wait for its identity. */
async function startLocalAgent(h: Harness): Promise<RunningAgent> {
  const dataDir = await mkdtemp(path.join(tmpdir(), "pp-e2e-agent-"));
  await mkdir(LOGS_DIR, { recursive: true });
  const log: FileHandle = await open(path.join(LOGS_DIR, "e2e-local-agent.log"), "w");
  const { token } = await h.client().enrollTokens.create.mutate({ description: "browser tests: local agent" });
  let tail = "";
  const child: ChildProcess = spawn(
    process.execPath,
    [AGENT_BIN, ...h.agentArgs, "--data-dir", dataDir, "--http", "off", "--heartbeat", "1", "--default-probes", PROFILING ? "host,cpu_profile" : "host", "--label", LOCAL_AGENT_SELECTOR, "--log-level", "info"],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, PROBEPILOT_ENROLL_TOKEN: token } },
  );
  const keep = (d: Buffer) => {
    void log.write(d);
    tail = (tail + d.toString()).slice(-4000);
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const forced = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(forced);
    }
    await log.close().catch(() => {});
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    const identity = await waitFor(async () => {
        if (child.exitCode !== null) throw new Error(`the agent exited with code ${child.exitCode}:\n${tail}`);
        const loaded = await loadIdentity(dataDir).catch(() => null);
        return loaded && !loaded.legacy ? loaded.identity : undefined;
      }, { what: "the local agent's identity on disk (enrolled)", timeoutMs: 30_000, debug: () => tail });
    return { id: identity.agentId, output: () => tail, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
