import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { formatCreds } from "@probepilot/shared/nkeys";
import { pino } from "pino";
import type { KV, NatsConnection } from "nats";
import { policyAppliesTo, policyBucket, type Labels, type Policy, type ProbeStatus } from "@probepilot/shared";
import { startHarness, type Harness } from "@probepilot/testkit/control-plane-harness";
import { freePort } from "@probepilot/testkit/free-port";
import { metricValue } from "@probepilot/testkit/metrics-text";
import { waitFor } from "@probepilot/testkit/poll";
import { tempDir } from "../support/in-process-agent.ts";
import { simulatorCreds } from "@probepilot/testkit/simulator-creds";
import { loadIdentity } from "../../src/identity/identity-store.ts";
import { labelsForAgent, parseCostSpec, parseFailSpec, parseLabelsSpec, parseUnsupportedSpec, simulatedOutcome } from "../../src/simulate/fleet-spec.ts";
import { startSimulatedFleet, type FleetProgress, type SimulatedFleet } from "../../src/simulate/fleet.ts";
import { AGENT_BIN } from "@probepilot/testkit/bins";

/**
 * The fleet simulator against a real control plane, nats-server and Postgres:
 * simulated agents are real `Agent`s, so a policy written into the tenant's KV
 * bucket must show up in the agents table (through the status stream and the
 * control plane's consumer) exactly as the spec functions predict.
 */

const N = 200;
const LABELS = "half=a|b,env=prod:70%|staging:30%";
const FAIL = "tcp_flows@v2=30%";
const UNSUPPORTED = "tcp_flows=10%";
const COST = "tcp_flows@v2=1.5%";
const probes = { fail: parseFailSpec(FAIL), unsupported: parseUnsupportedSpec(UNSUPPORTED), cost: parseCostSpec(COST), startDelayMs: { min: 5, max: 30 } };
const silent = pino({ level: process.env.PP_TEST_LOG ?? "silent" });

let h: Harness;
let enrollToken: string;
let simCreds: { jwt: string; seed: string };
let credsFile: string;
let dir: { dir: string; remove: () => Promise<void> };
let fleet: SimulatedFleet;
let ops: NatsConnection;
let kv: KV;
let tenantId: string;
const spawned: ChildProcess[] = [];

type AgentRow = { id: string; hostname: string; status: string; labels: Labels; probes: ProbeStatus[]; applied_policies: Record<string, number>; kernel: string; arch: string; os: string; agent_version: string };

const json = <T>(v: unknown): T => (typeof v === "string" ? JSON.parse(v) : v) as T;

/** The agents table as the control plane keeps it, for one simulator's host names. */
async function rows(prefix: string): Promise<AgentRow[]> {
  const found = await h.cp.db.sql<AgentRow[]>`
    select id, hostname, status, labels, probes, applied_policies, kernel, arch, os, agent_version
    from agents where hostname like ${`sim-${prefix}-%`} order by hostname`;
  return found.map((r) => ({ ...r, labels: json(r.labels), probes: json(r.probes), applied_policies: json(r.applied_policies) }));
}

/** Where the simulated agents connect and enroll, with the tenant's simulator credentials. */
const fleetEndpoints = () => ({ natsUrl: h.nats.url, ...(h.nats.caFile ? { natsCaFile: h.nats.caFile } : {}), simulatorCreds: simCreds, controlPlane: { url: h.cp.url } });

function start(enroll: boolean, onProgress?: (p: FleetProgress) => void): Promise<SimulatedFleet> {
  return startSimulatedFleet({
    ...fleetEndpoints(),
    agents: N,
    connections: 3,
    ...(enroll ? { enrollToken } : {}),
    dataDir: dir.dir,
    namePrefix: "it",
    labels: parseLabelsSpec(LABELS),
    probes,
    log: silent,
    ...(onProgress ? { onProgress } : {}),
    natsOptions: { reconnectTimeWait: 250 },
  });
}

beforeAll(async () => {
  h = await startHarness();
  dir = await tempDir("pp-simulate-");
  enrollToken = (await h.client().enrollTokens.create.mutate({ description: "fleet simulator" })).token;
  simCreds = await simulatorCreds(h);
  credsFile = path.join(dir.dir, "sim.creds");
  await writeFile(credsFile, formatCreds(simCreds.jwt, simCreds.seed), { mode: 0o600 });
  fleet = await start(true);
  await fleet.ready;
  const first = await loadIdentity(fleet.agents[0]!.dataDir);
  if (!first || first.legacy) throw new Error("the simulated agent wrote no identity");
  tenantId = first.identity.tenantId;
  ops = await h.platformNats("pp-test-ops");
  kv = await (await h.cp.mesh.tenant(tenantId)).jetstream().views.kv(policyBucket(tenantId), { bindOnly: true });
}, 120_000);

afterAll(async () => {
  for (const child of spawned) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await fleet?.stop();
  await ops?.close();
  await h?.stop();
  await dir?.remove();
}, 60_000);

describe("simulated fleet", () => {
  it("enrolls every agent with its simulated host and labels, and the registry shows them online with no probes", async () => {
    const online = await waitFor(async () => {
      const r = await rows("it");
      return r.length === N && r.every((a) => a.status === "online") ? r : undefined;
    }, { what: `${N} simulated agents online`, timeoutMs: 30_000 });
    expect(fleet.counts().agents).toMatchObject({ total: N, running: N, failed: 0 });
    expect(fleet.counts().connections).toEqual({ total: 3, connected: 3 });
    expect(online[0]!.hostname).toBe("sim-it-00001");
    for (const [i, row] of online.entries()) {
      expect(row.labels).toMatchObject({ ...labelsForAgent(parseLabelsSpec(LABELS), i), "probepilot.io/hostname": row.hostname, "probepilot.io/simulated": "true" });
      expect(row.probes).toEqual([]); // no default probes
      expect(row.agent_version).toMatch(/\+sim$/);
    }
    // Several (kernel, arch, os) strata, as rollouts' canaries need.
    expect(new Set(online.map((r) => `${r.kernel}|${r.arch}|${r.os}`)).size).toBe(3);
    expect(online.filter((r) => r.labels.env === "staging").length).toBeGreaterThanOrEqual(58);
    expect(online.filter((r) => r.labels.env === "staging").length).toBeLessThanOrEqual(62);
  });

  it("reports exactly the predicted running, failed and unsupported probes for a policy, then drops them when it is deleted", async () => {
    const policy: Policy = {
      policyId: "pol_sim",
      rolloutId: "rol_sim",
      probe: { kind: "tcp_flows", version: "v2", specHash: "sha256:sim-v2", params: {} },
      selector: "half=a",
      stage: { cutBasisPoints: 10_000, agentIds: [] },
      revision: 0,
      updatedAt: Date.now(),
    };
    await kv.put(policy.policyId, JSON.stringify(policy));

    // What each agent must report, computed with the simulator's own functions.
    const expected = new Map<string, "none" | "running" | "failed" | "unsupported">();
    for (const a of fleet.agents) {
      const id = a.agent!.agentId!;
      expected.set(id, policyAppliesTo(policy, id, a.agent!.labels) ? simulatedOutcome(probes, id, "tcp_flows", "v2").outcome : "none");
    }
    const tally = (o: string) => [...expected.values()].filter((v) => v === o).length;
    expect(tally("none")).toBe(N / 2);
    expect(tally("failed")).toBeGreaterThan(5); // ~27 of 100: enough of each kind for the test to mean something
    expect(tally("unsupported")).toBeGreaterThan(2);
    expect(tally("running")).toBeGreaterThan(40);

    const matches = (row: AgentRow): boolean => {
      const want = expected.get(row.id);
      const p = row.probes;
      if (want === "none") return p.length === 0;
      if (p.length !== 1 || p[0]!.kind !== "tcp_flows" || p[0]!.version !== "v2" || p[0]!.policyId !== "pol_sim") return false;
      if (row.applied_policies.pol_sim === undefined) return false;
      const s = p[0]!;
      if (want === "running") return s.state === "running" && s.cost !== undefined && Math.abs(s.cost.kernelCpuPercent + s.cost.loaderCpuPercent - 1.5) < 1e-9;
      if (want === "failed") return s.state === "failed" && s.error === `simulated failure of tcp_flows v2 on this agent (--fail ${FAIL})`;
      return s.state === "unsupported" && s.reason === `simulated: tcp_flows v2 is not supported on this host (--unsupported ${UNSUPPORTED})`;
    };
    let last: AgentRow[] = [];
    await waitFor(async () => {
      last = await rows("it");
      return last.length === N && last.every(matches) ? true : undefined;
    }, {
      what: "every agent's probes in Postgres as predicted",
      timeoutMs: 30_000,
      debug: () => JSON.stringify(last.filter((r) => !matches(r)).slice(0, 3).map((r) => ({ id: r.id, want: expected.get(r.id), probes: r.probes }))),
    });
    // The fleet's own counts agree (a failed probe may be between restarts: applying or failed).
    const counts = fleet.counts().probes;
    expect(counts.running).toBe(tally("running"));
    expect(counts.unsupported).toBe(tally("unsupported"));
    expect(counts.failed + counts.applying).toBe(tally("failed"));

    await kv.delete(policy.policyId);
    await waitFor(async () => {
      last = await rows("it");
      return last.length === N && last.every((r) => r.probes.length === 0 && !("pol_sim" in r.applied_policies)) ? true : undefined;
    }, { what: "every probe gone after the policy was deleted", timeoutMs: 30_000, debug: () => JSON.stringify(last.filter((r) => r.probes.length > 0).slice(0, 3)) });
    expect(fleet.counts().probes.running).toBe(0);
  });

  it("rides out a NATS restart on its shared connections: a policy written afterwards reaches every matching agent", async () => {
    await h.nats.restart();
    await waitFor(async () => (fleet.counts().connections.connected === 3 ? true : undefined), { what: "the fleet's 3 connections back", timeoutMs: 20_000 });
    const policy: Policy = {
      policyId: "pol_after_restart",
      rolloutId: "rol_after_restart",
      probe: { kind: "host", version: "v7", specHash: "sha256:host-v7", params: {} },
      selector: "env=staging",
      stage: { cutBasisPoints: 10_000, agentIds: [] },
      revision: 0,
      updatedAt: Date.now(),
    };
    // The ops connection reconnects too; retry the write until JetStream answers again.
    await waitFor(async () => ((await kv.put(policy.policyId, JSON.stringify(policy))) > 0 ? true : undefined), { what: "policy written after the restart", timeoutMs: 20_000 });
    const staging = fleet.agents.filter((a) => a.agent!.labels.env === "staging").map((a) => a.agent!.agentId!);
    let last: AgentRow[] = [];
    await waitFor(async () => {
      last = await rows("it");
      const ok = last.every((r) => (staging.includes(r.id) ? r.probes.length === 1 && r.probes[0]!.state === "running" && r.probes[0]!.version === "v7" : r.probes.length === 0));
      return ok ? true : undefined;
    }, { what: "host v7 running on every staging agent after the restart", timeoutMs: 30_000, debug: () => JSON.stringify(last.filter((r) => staging.includes(r.id) !== (r.probes.length === 1)).slice(0, 3)) });
    await kv.delete(policy.policyId);
    await waitFor(async () => ((await rows("it")).every((r) => r.probes.length === 0) ? true : undefined), { what: "host v7 gone again", timeoutMs: 30_000 });
  });

  it("says goodbye on stop (agents offline at once) and re-identifies from the same data dir on the next start, without a token", async () => {
    const ids = fleet.agents.map((a) => a.agent!.agentId);
    await fleet.stop();
    expect(fleet.counts().agents.stopped).toBe(N);
    await waitFor(async () => ((await rows("it")).every((r) => r.status === "offline") ? true : undefined), { what: "every simulated agent offline after stop", timeoutMs: 15_000 });

    let progress: FleetProgress | undefined;
    fleet = await start(false, (p) => (progress = p));
    await fleet.ready;
    expect(progress).toMatchObject({ total: N, started: N, reused: N, failed: 0 });
    expect(fleet.agents.map((a) => a.agent!.agentId)).toEqual(ids);
    const again = await waitFor(async () => {
      const r = await rows("it");
      return r.every((a) => a.status === "online") ? r : undefined;
    }, { what: "the same agents online again", timeoutMs: 30_000 });
    expect(again).toHaveLength(N); // no second enrollment
  });

  it("stops cleanly while agents are still enrolling: every enrolled agent ends offline, none comes back", async () => {
    const early = await tempDir("pp-simulate-early-");
    let stopping: Promise<void> | null = null;
    const f: SimulatedFleet = await startSimulatedFleet({
      ...fleetEndpoints(),
      agents: 150,
      enrollToken,
      dataDir: early.dir,
      namePrefix: "early",
      enrollConcurrency: 20,
      log: silent,
      onProgress: (p) => {
        if (p.started >= 30) stopping ??= f.stop("stopped early");
      },
    });
    try {
      await expect(f.ready).rejects.toThrow(/stopped while starting/);
      await stopping;
      expect(f.counts().agents.stopped).toBe(150);
      expect(f.connections.every((nc) => nc.isClosed())).toBe(true);
      const enrolled = await waitFor(async () => {
        const r = await rows("early");
        return r.length > 0 && r.every((a) => a.status === "offline") ? r : undefined;
      }, { what: "every enrolled early agent offline", timeoutMs: 15_000 });
      expect(enrolled.length).toBeGreaterThanOrEqual(30);
      expect(enrolled.length).toBeLessThan(150);
      await new Promise((r) => setTimeout(r, 1000)); // a late status would flip one back online
      expect((await rows("early")).filter((a) => a.status !== "offline")).toEqual([]);
    } finally {
      await f.stop();
      await early.remove();
    }
  });
});

describe("probepilot-agent simulate (the bin)", () => {
  it("runs a fleet with /healthz and /metrics, and stops it cleanly on SIGTERM", async () => {
    const procDir = await tempDir("pp-simulate-bin-");
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [AGENT_BIN, "simulate", "--agents", "20", "--nats", h.nats.url, "--ca", h.nats.caFile!, "--control-plane", h.cp.url, "--creds", credsFile, "--data-dir", procDir.dir, "--name-prefix", "proc", "--ops-port", String(port), "--heartbeat-sec", "5", "--labels", "team=proc", "--connections", "2"],
      { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, PROBEPILOT_ENROLL_TOKEN: enrollToken } },
    );
    spawned.push(child);
    let output = "";
    child.stdout!.on("data", (d) => (output += d));
    child.stderr!.on("data", (d) => (output += d));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      const health = await waitFor(async () => {
        const res = await fetch(`http://127.0.0.1:${port}/healthz`);
        return res.status === 200 ? ((await res.json()) as { ok: boolean; agents: Record<string, number>; connections: { total: number; connected: number } }) : undefined;
      }, { what: "simulator /healthz 200", timeoutMs: 45_000, debug: () => output });
      expect(health).toMatchObject({ ok: true, agents: { total: 20, running: 20 }, connections: { total: 2, connected: 2 } });

      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metricValue(metrics, "probepilot_sim_agents_target")).toBe(20);
      expect(metricValue(metrics, "probepilot_sim_agents", { state: "running" })).toBe(20);
      expect(metricValue(metrics, "probepilot_sim_nats_connections", { state: "up" })).toBe(2);
      expect(metricValue(metrics, "probepilot_agent_status_messages_total", { type: "status", outcome: "published" })).toBeGreaterThanOrEqual(20);
      expect(output).toContain("enrolled 20/20 agents");

      const online = await waitFor(async () => {
        const r = await rows("proc");
        return r.length === 20 && r.every((a) => a.status === "online" && a.labels.team === "proc") ? r : undefined;
      }, { what: "20 simulated agents of the process online", timeoutMs: 15_000, debug: () => output });
      expect(online[19]!.hostname).toBe("sim-proc-00020");

      child.kill("SIGTERM");
      expect(await exited).toBe(0);
      expect(output).toContain("simulated fleet stopped");
      // Goodbyes: offline at once, not after missed heartbeats.
      await waitFor(async () => ((await rows("proc")).every((r) => r.status === "offline") ? true : undefined), { what: "the process's agents offline after SIGTERM", timeoutMs: 5_000, debug: () => output });
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await procDir.remove();
    }
  });
});
