import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, stat, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { startHarness, type Harness } from "@probepilot/testkit/control-plane-harness";
import { freePort } from "@probepilot/testkit/free-port";
import { waitFor } from "@probepilot/testkit/poll";
import { AGENT_BIN } from "@probepilot/testkit/bins";


let h: Harness;
let dataDir: string;
let enrollToken: string;

beforeAll(async () => {
  h = await startHarness();
  dataDir = await mkdtemp(path.join(tmpdir(), "pp-agent-"));
  enrollToken = (await h.client().enrollTokens.create.mutate({ description: "e2e" })).token;
});
const spawned: ChildProcess[] = [];
afterAll(async () => {
  // A failed assertion must not leave agents running after the suite.
  for (const child of spawned) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await h?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

type RunningAgent = { child: ChildProcess; httpPort: number; exited: Promise<number | null>; output: () => string };

async function spawnAgent(extra: string[] = []): Promise<RunningAgent> {
  const httpPort = await freePort();
  const child = spawn(process.execPath, [AGENT_BIN, ...h.agentArgs, "--default-probes", "host", "--data-dir", dataDir, "--heartbeat", "1", "--http", `127.0.0.1:${httpPort}`, "--label", "team=core", ...extra], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  spawned.push(child);
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, httpPort, exited, output: () => output };
}

type AgentHealthz = { ok: boolean; agentId: string | null; labels?: Record<string, string> };

const listAll = () => h.client().agents.list.query({});

describe("an agent process on this host", () => {
  let agentId: string;

  it("enrolls with an enrollment token and shows up online with its host and user labels", async () => {
    const agent = await spawnAgent(["--enroll-token", enrollToken]);
    const online = await waitFor(async () => (await listAll()).items.find((a) => a.status === "online" && Object.keys(a.probes).length > 0 && a.probes.length > 0), { what: "agent online with probe status", timeoutMs: 20_000, debug: agent.output });
    agentId = online.id;
    expect(online.hostname).toBeTruthy();
    expect(online.labels["probepilot.io/hostname"]).toBeTruthy();
    expect(online.labels["probepilot.io/arch"]).toMatch(/^(amd64|arm64)$/);
    expect(online.labels["probepilot.io/kernel"]).toBe(online.kernel);
    expect(online.labels.team).toBe("core");
    expect(online.capabilities.btf).toBe(true);
    expect(online.probes).toEqual([expect.objectContaining({ kind: "host", state: "running", version: "builtin" })]);

    // The identity and the NATS credentials (the standard .creds file: JWT and the seed made here) survive on disk, readable by root only.
    const identityFile = path.join(dataDir, "identity.json");
    expect((await stat(identityFile)).mode & 0o777).toBe(0o600);
    const identity = JSON.parse(await readFile(identityFile, "utf8"));
    expect(identity.agentId).toBe(agentId);
    expect(identity.publicKey).toBe(online.natsPublicKey);
    const credsFile = path.join(dataDir, "nats.creds");
    expect((await stat(credsFile)).mode & 0o777).toBe(0o600);
    expect(await readFile(credsFile, "utf8")).toMatch(/-----BEGIN NATS USER JWT-----\n\S+\n------END NATS USER JWT------[\s\S]*-----BEGIN USER NKEY SEED-----\nSU[A-Z2-7]+\n/);

    // The agent's own /healthz and /metrics.
    const health = await (await fetch(`http://127.0.0.1:${agent.httpPort}/healthz`)).json();
    expect(health).toMatchObject({ ok: true, nats: true, agentId });
    const metrics = await (await fetch(`http://127.0.0.1:${agent.httpPort}/metrics`)).text();
    expect(metrics).toMatch(/probepilot_agent_status_messages_total\{type="status",outcome="published"\} [1-9]/);

    // Central labels reach the agent.
    await h.client().agents.setLabels.mutate({ id: agentId, labels: { tier: "gold", team: "platform" } });
    await waitFor(async () => {
      const h2 = (await (await fetch(`http://127.0.0.1:${agent.httpPort}/healthz`)).json()) as AgentHealthz;
      return h2.labels?.tier === "gold" && h2.labels?.team === "platform" ? h2 : undefined;
    }, { what: "central labels on the agent", debug: agent.output });
    const got = await h.client().agents.get.query({ id: agentId });
    expect(got.labels).toMatchObject({ tier: "gold", team: "platform" });
    expect(got.centralLabels).toEqual({ tier: "gold", team: "platform" });

    // SIGTERM: clean exit, and the goodbye marks it offline without waiting for the sweeper.
    agent.child.kill("SIGTERM");
    expect(await agent.exited).toBe(0);
    await waitFor(async () => ((await h.client().agents.get.query({ id: agentId })).status === "offline" ? true : undefined), { what: "agent offline after SIGTERM" });
  });

  it("restarts with the identity on disk (same id, no enrollment token) and keeps central labels", async () => {
    const agent = await spawnAgent();
    const back = await waitFor(async () => {
      const a = await h.client().agents.get.query({ id: agentId });
      return a.status === "online" ? a : undefined;
    }, { what: "agent online again", debug: agent.output });
    expect((await listAll()).total).toBe(1);
    expect(back.labels.tier).toBe("gold");
    const health = await waitFor(async () => {
      const r = (await (await fetch(`http://127.0.0.1:${agent.httpPort}/healthz`)).json().catch(() => undefined)) as AgentHealthz | undefined;
      return r?.labels?.tier === "gold" ? r : undefined;
    }, { what: "agent has central labels after restart" });
    expect(health.agentId).toBe(agentId);

    // SIGKILL: no goodbye; the missed heartbeats (3 × 1 s) mark it offline.
    agent.child.kill("SIGKILL");
    await agent.exited;
    const killedAt = Date.now();
    await waitFor(async () => ((await h.client().agents.get.query({ id: agentId })).status === "offline" ? true : undefined), { what: "agent offline after missed heartbeats", timeoutMs: 15_000 });
    expect(Date.now() - killedAt).toBeGreaterThan(1500);
  });

  it("refuses to start without identity or enrollment token, saying what to pass", async () => {
    const emptyDir = await mkdtemp(path.join(tmpdir(), "pp-agent-empty-"));
    const child = spawn(process.execPath, [AGENT_BIN, ...h.agentArgs, "--default-probes", "host", "--data-dir", emptyDir, "--http", "off"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout!.on("data", (d) => (out += d));
    const code = await new Promise((r) => child.once("exit", r));
    expect(code).toBe(1);
    expect(out).toMatch(/--enroll-token/);
    await rm(emptyDir, { recursive: true, force: true });
  });

  it("reports a wrong enrollment token clearly and exits", async () => {
    const emptyDir = await mkdtemp(path.join(tmpdir(), "pp-agent-bad-"));
    const child = spawn(process.execPath, [AGENT_BIN, ...h.agentArgs, "--default-probes", "host", "--data-dir", emptyDir, "--http", "off", "--enroll-token", "ppe_wrong"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout!.on("data", (d) => (out += d));
    const code = await new Promise((r) => child.once("exit", r));
    expect(code).toBe(1);
    expect(out).toMatch(/enrollment refused \(UNAUTHORIZED\): enrollment token is unknown or revoked/);
    await rm(emptyDir, { recursive: true, force: true });
  });
});
