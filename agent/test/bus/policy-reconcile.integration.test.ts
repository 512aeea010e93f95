import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { readFile } from "node:fs/promises";
import path from "node:path";
import type { KV, NatsConnection } from "nats";
import { policyBucket, waveHash, type Policy, type ProbeStatus, type AgentHello } from "@probepilot/shared";
import { startHarness, type Harness } from "@probepilot/testkit/control-plane-harness";
import { waitFor } from "@probepilot/testkit/poll";
import { StatusTap, TelemetryTap, realHello, startInProcessAgent, tempDir, type InProcessAgent } from "../support/in-process-agent.ts";

const withoutBtf = (hello: AgentHello): AgentHello => ({ ...hello, capabilities: { ...hello.capabilities, btf: false } });

/**
 * The agent's policy watch and local reconcile, against a real control plane and
 * nats-server: hand-written policies go into the tenant's policy KV bucket (as the
 * rollout engine will write them) and the in-process agent must act on them.
 */

let h: Harness;
let ops: NatsConnection; // the "control plane side" connection that writes policies and watches streams
let kv: KV;
let dir: { dir: string; remove: () => Promise<void> };
let a: InProcessAgent;
let status: StatusTap;
let telemetry: TelemetryTap;
let hostArch: string;

const SUITE_LABEL = { suite: "reconcile" };

beforeAll(async () => {
  h = await startHarness();
  dir = await tempDir("pp-reconcile-");
  ops = await h.platformNats("pp-test-ops");
  status = new StatusTap(ops);
  const enrollToken = (await h.client().enrollTokens.create.mutate({ description: "policy reconcile" })).token;
  // This suite is about policies, not eBPF: the agent says its host has no BTF, so eBPF kinds are unsupported here.
  const hello = withoutBtf(await realHello(SUITE_LABEL));
  hostArch = hello.hostLabels["probepilot.io/arch"]!;
  a = await startInProcessAgent({ ...h.agentEndpoints, dataDir: dir.dir, hello, enrollToken });
  kv = await (await h.cp.mesh.tenant(a.tenantId)).jetstream().views.kv(policyBucket(a.tenantId), { bindOnly: true });
  telemetry = await TelemetryTap.start(ops, a.tenantId, a.agentId, "host");
});

afterAll(async () => {
  await telemetry?.stop();
  status?.stop();
  await a?.stop();
  await ops?.close();
  await h?.stop();
  await dir?.remove();
});

let nextUpdatedAt = Date.now();

/** A valid policy for `kind`, matching this suite's agent with every agent in the wave unless overridden. */
function policy(policyId: string, over: { kind?: Policy["probe"]["kind"]; version?: string; params?: Record<string, unknown>; selector?: string; cut?: number; agentIds?: string[]; rolloutId?: string; updatedAt?: number } = {}): Policy {
  const version = over.version ?? `${policyId}-v1`;
  return {
    policyId,
    rolloutId: over.rolloutId ?? `rol_${policyId}`,
    probe: { kind: over.kind ?? "host", version, specHash: `sha256:${version}`, params: over.params ?? { intervalMs: 200 } },
    selector: over.selector ?? `suite=reconcile,probepilot.io/arch=${hostArch}`,
    stage: { cutBasisPoints: over.cut ?? 10_000, agentIds: over.agentIds ?? [] },
    revision: 0,
    updatedAt: over.updatedAt ?? ++nextUpdatedAt,
  };
}

async function put(p: Policy): Promise<number> {
  return kv.put(p.policyId, JSON.stringify(p));
}

/** Wait until the agent reports (in a status message) that it reconciled `key` at `revision`. */
async function reconciled(key: string, revision: number) {
  return waitFor(async () => (status.latest(a.agentId)?.appliedPolicies[key] === revision ? status.latest(a.agentId) : undefined), {
    what: `agent to report policy ${key} reconciled at revision ${revision}`,
  });
}

/** Wait until the agent reports that `key` is gone from what it reconciles. */
async function forgotten(key: string) {
  return waitFor(async () => {
    const s = status.latest(a.agentId);
    return s && !(key in s.appliedPolicies) ? s : undefined;
  }, { what: `agent to drop policy ${key}` });
}

function probe(kind: string): ProbeStatus | undefined {
  return a.agent.probeStatuses().find((p) => p.kind === kind);
}

async function running(kind: string, policyId: string): Promise<ProbeStatus> {
  return waitFor(async () => {
    const p = probe(kind);
    return p?.state === "running" && p.policyId === policyId ? p : undefined;
  }, { what: `${kind} running for ${policyId}`, debug: () => JSON.stringify(a.agent.probeStatuses()) });
}

/** Each test starts from an empty bucket and an agent that runs nothing. */
afterEach(async () => {
  const keys: string[] = [];
  for await (const key of await kv.keys()) keys.push(key);
  for (const key of keys) await kv.delete(key);
  await waitFor(async () => {
    const s = status.latest(a.agent.agentId ?? a.agentId);
    return s && Object.keys(s.appliedPolicies).length === 0 && a.agent.probeStatuses().length === 0 && a.agent.invalidPolicies().size === 0 ? true : undefined;
  }, { what: "an empty bucket reconciled: no policies, no probes", debug: () => JSON.stringify({ keys, probes: a.agent.probeStatuses(), status: status.latest(a.agentId) }) });
});

describe("policy watch and reconcile", () => {
  it("starts with nothing to run: no default probes, no policies", async () => {
    const first = await waitFor(async () => status.latest(a.agentId), { what: "a first status message" });
    expect(first.appliedPolicies).toEqual({});
    expect(first.probes).toEqual([]);
    expect(first.labels).toMatchObject({ suite: "reconcile", "probepilot.io/arch": hostArch });
    expect(a.agent.probeStatuses()).toEqual([]);
  });

  it("runs a matching host policy at cut 10000 with its params, and its telemetry reaches PP_TELEMETRY", async () => {
    // The smallest interval allowed, far from the 1 s default, so the bound below can be generous.
    const p = policy("pol_match", { params: { intervalMs: 100 } });
    const before = Date.now();
    const revision = await put(p);
    const st = await running("host", "pol_match");
    expect(st.version).toBe("pol_match-v1");
    const report = await reconciled("pol_match", revision);
    expect(report.probes).toContainEqual(expect.objectContaining({ kind: "host", policyId: "pol_match", version: "pol_match-v1" }));

    // intervalMs reached the probe. The scheduler never runs ticks early and skips late slots rather than
    // bursting, so ten batches at the 1 s default could not span less than 8 s (slots k..k+9, the first
    // sent before slot k+1); at 100 ms they take about 1 s. The bound is generous for a shared machine.
    const batches = await waitFor(async () => {
      const got = telemetry.since(before).filter((b) => b.probeVersion === "pol_match-v1");
      return got.length >= 10 ? got.slice(0, 10) : undefined;
    }, { what: "10 host batches from the policy's probe" });
    for (const [i, b] of batches.slice(1).entries()) {
      expect(b.seq).toBeGreaterThan(batches[i]!.seq);
      expect(b.sentAt).toBeGreaterThanOrEqual(batches[i]!.sentAt);
    }
    expect(batches[9]!.sentAt - batches[0]!.sentAt).toBeLessThan(6000);
    expect(batches.every((b) => b.agentId === a.agentId && b.tenantId === a.tenantId && b.probe === "host")).toBe(true);
  });

  it("does not apply a policy whose selector does not match the agent's labels", async () => {
    const revision = await put(policy("pol_nomatch", { selector: "suite=reconcile,env=production" }));
    const report = await reconciled("pol_nomatch", revision);
    expect(report.probes).toEqual([]);
    expect(probe("host")).toBeUndefined();

    // The same key rewritten with a matching selector applies (same rollout step, new revision).
    const revision2 = await put(policy("pol_nomatch", { selector: "suite in (reconcile,other),!env" }));
    await running("host", "pol_nomatch");
    await reconciled("pol_nomatch", revision2);
  });

  it("at cut 0 applies only to agents listed in stage.agentIds", async () => {
    const notListed = await put(policy("pol_canary", { cut: 0, agentIds: ["agt_someone_else"] }));
    const report = await reconciled("pol_canary", notListed);
    expect(report.probes).toEqual([]);
    expect(probe("host")).toBeUndefined();

    const listed = await put(policy("pol_canary", { cut: 0, agentIds: ["agt_someone_else", a.agentId] }));
    await running("host", "pol_canary");
    await reconciled("pol_canary", listed);

    const unlisted = await put(policy("pol_canary", { cut: 0, agentIds: [] }));
    await reconciled("pol_canary", unlisted);
    expect(probe("host")).toBeUndefined();
  });

  it("places the agent in or out of a wave exactly by waveHash(agentId, rolloutId)", async () => {
    const rolloutId = "rol_wave_test";
    const position = waveHash(a.agentId, rolloutId);
    expect(position).toBeGreaterThanOrEqual(0);
    expect(position).toBeLessThan(10_000);

    // Cut exactly at the agent's position: hash < cut is false, so not yet in the wave.
    const atPosition = await put(policy("pol_wave", { rolloutId, cut: position }));
    await reconciled("pol_wave", atPosition);
    expect(probe("host")).toBeUndefined();

    // One basis point more and the agent is in.
    const justAbove = await put(policy("pol_wave", { rolloutId, cut: position + 1 }));
    await running("host", "pol_wave");
    await reconciled("pol_wave", justAbove);

    // Another rollout id places the agent elsewhere: use a cut that separates the two positions.
    const otherRollout = "rol_wave_other";
    const other = waveHash(a.agentId, otherRollout);
    if (other !== position) {
      const cut = Math.max(other, position); // in for the lower position, out for the higher one
      const rev = await put(policy("pol_wave", { rolloutId: otherRollout, cut, version: "pol_wave-v2" }));
      await reconciled("pol_wave", rev);
      if (other < position) await running("host", "pol_wave");
      else expect(probe("host")).toBeUndefined();
    }
  });

  it("reports a policy for tcp_flows on a host without BTF as unsupported with the reason, never silently ignoring it", async () => {
    const revision = await put(policy("pol_tcp", { kind: "tcp_flows", params: {} }));
    const st = await waitFor(async () => probe("tcp_flows"), { what: "tcp_flows status" });
    expect(st).toMatchObject({ kind: "tcp_flows", state: "unsupported", policyId: "pol_tcp", version: "pol_tcp-v1" });
    expect(st.reason).toMatch(/no BTF.*CO-RE probes cannot be relocated/);
    const report = await reconciled("pol_tcp", revision);
    expect(report.probes).toContainEqual(expect.objectContaining({ kind: "tcp_flows", state: "unsupported", reason: st.reason }));

    // And the control plane shows it too (through the status stream and its durable consumer).
    const row = await waitFor(async () => {
      const got = await h.client().agents.get.query({ id: a.agentId });
      return got.probes.some((p) => p.kind === "tcp_flows" && p.state === "unsupported") ? got : undefined;
    }, { what: "unsupported tcp_flows in agents.get" });
    expect(row.probes.find((p) => p.kind === "tcp_flows")?.reason).toBe(st.reason);
  });

  it("resolves two policies for the same kind by updatedAt (not write order) and reports the conflict", async () => {
    const older = policy("pol_old", { version: "old", updatedAt: 1_000 });
    const newer = policy("pol_new", { version: "new", updatedAt: 2_000 });
    const rNew = await put(newer);
    const rOld = await put(older); // written last, but older
    await reconciled("pol_new", rNew);
    const report = await reconciled("pol_old", rOld);
    expect(report.conflicts).toEqual([{ kind: "host", winner: "pol_new", loser: "pol_old" }]);
    expect(report.probes.filter((p) => p.kind === "host")).toEqual([expect.objectContaining({ policyId: "pol_new", version: "new" })]);
    await running("host", "pol_new");

    // Only the winner's probe produces telemetry.
    const since = Date.now();
    await waitFor(async () => (telemetry.since(since).length >= 3 ? true : undefined), { what: "telemetry from the winner" });
    expect(new Set(telemetry.since(since).map((b) => b.probeVersion))).toEqual(new Set(["new"]));

    // Remove the winner: the other policy takes over and the conflict is gone.
    await kv.delete("pol_new");
    await running("host", "pol_old");
    const after = await forgotten("pol_new");
    expect(after.conflicts).toEqual([]);
  });

  it("stops the probe when its policy key is deleted: no telemetry after a grace period, gone from status", async () => {
    const revision = await put(policy("pol_delete"));
    await running("host", "pol_delete");
    await reconciled("pol_delete", revision);
    const started = Date.now();
    await waitFor(async () => (telemetry.since(started).length >= 2 ? true : undefined), { what: "telemetry before the delete" });

    await kv.delete("pol_delete");
    await waitFor(async () => (probe("host") === undefined ? true : undefined), { what: "host probe gone" });
    const report = await forgotten("pol_delete");
    expect(report.probes).toEqual([]);
    const stoppedAt = Date.now();
    await new Promise((r) => setTimeout(r, 1500)); // 7 intervals of the deleted probe
    expect(telemetry.since(stoppedAt)).toEqual([]);
  });

  it("ignores invalid policy values, reports them by key, and keeps reconciling the others", async () => {
    await kv.put("pol_not_json", new TextEncoder().encode("{this is not json"));
    await kv.put("pol_bad_schema", JSON.stringify({ policyId: "pol_bad_schema", probe: { kind: "host" } }));
    await kv.put("pol_bad_selector", JSON.stringify({ ...policy("pol_bad_selector"), selector: "env in staging" }));
    await kv.put("pol_bad_kind", JSON.stringify(policy("pol_bad_kind", { kind: "no_such_probe" as Policy["probe"]["kind"] })));
    const invalid = await waitFor(async () => {
      const m = a.agent.invalidPolicies();
      return m.size === 4 ? new Map(m) : undefined;
    }, { what: "4 invalid policies", debug: () => JSON.stringify([...a.agent.invalidPolicies()]) });
    expect(invalid.get("pol_not_json")).toMatch(/not JSON/);
    expect(invalid.get("pol_bad_schema")).toMatch(/rolloutId|stage|selector/);
    expect(invalid.get("pol_bad_selector")).toMatch(/expected "\("/);
    expect(invalid.get("pol_bad_kind")).toMatch(/kind/);
    expect(a.agent.probeStatuses()).toEqual([]);

    // Operators see them too: in the status message and, through the control plane, in agents.get.
    const reported = await waitFor(async () => {
      const s = status.latest(a.agentId);
      return s && Object.keys(s.invalidPolicies).length === 4 ? s : undefined;
    }, { what: "invalid policies in the status message" });
    expect(reported.invalidPolicies.pol_bad_selector).toBe(invalid.get("pol_bad_selector"));
    const row = await waitFor(async () => {
      const got = await h.client().agents.get.query({ id: a.agentId });
      return Object.keys(got.invalidPolicies).length === 4 ? got : undefined;
    }, { what: "invalid policies in agents.get" });
    expect(row.invalidPolicies.pol_not_json).toMatch(/not JSON/);

    // A valid policy next to them is applied, and invalid keys are not reported as reconciled.
    const revision = await put(policy("pol_valid"));
    await running("host", "pol_valid");
    const report = await reconciled("pol_valid", revision);
    expect(Object.keys(report.appliedPolicies)).toEqual(["pol_valid"]);

    // A valid policy overwritten with garbage is taken out of the desired state.
    await kv.put("pol_valid", new TextEncoder().encode("garbage"));
    await waitFor(async () => (a.agent.invalidPolicies().has("pol_valid") ? true : undefined), { what: "pol_valid invalid" });
    await waitFor(async () => (probe("host") === undefined ? true : undefined), { what: "host stopped after its policy turned invalid" });

    // Deleting an invalid key clears its report.
    for (const key of ["pol_not_json", "pol_bad_schema", "pol_bad_selector", "pol_bad_kind", "pol_valid"]) await kv.delete(key);
    await waitFor(async () => (a.agent.invalidPolicies().size === 0 ? true : undefined), { what: "invalid policies cleared" });
  });

  it("reports parameters the probe kind rejects as failed with the reason, without restarting it", async () => {
    const restartsBefore = (await a.metrics.probeRestarts.get()).values.reduce((n, v) => n + v.value, 0);
    const revision = await put(policy("pol_bad_params", { params: { intervalMs: 5 } }));
    const report = await reconciled("pol_bad_params", revision);
    const host = report.probes.find((p) => p.kind === "host");
    expect(host).toMatchObject({ state: "failed", policyId: "pol_bad_params" });
    expect(host?.error).toMatch(/^invalid parameters for host: intervalMs: /);
    await new Promise((r) => setTimeout(r, 1500)); // longer than the supervisor's first backoff
    const restartsAfter = (await a.metrics.probeRestarts.get()).values.reduce((n, v) => n + v.value, 0);
    expect(restartsAfter).toBe(restartsBefore);
    expect(probe("host")?.state).toBe("failed");
  });

  it("reconciles when central labels set through agents.setLabels make a selector match", async () => {
    const revision = await put(policy("pol_gold", { selector: "tier=gold" }));
    await reconciled("pol_gold", revision);
    expect(probe("host")).toBeUndefined();

    await h.client().agents.setLabels.mutate({ id: a.agentId, labels: { tier: "gold" } });
    await running("host", "pol_gold");
    expect(a.agent.labels.tier).toBe("gold");
    await waitFor(async () => (status.latest(a.agentId)?.labels.tier === "gold" ? true : undefined), { what: "tier=gold in the status labels" });

    // Removing the central label makes it stop matching again.
    await h.client().agents.setLabels.mutate({ id: a.agentId, labels: { tier: null } });
    await waitFor(async () => (probe("host") === undefined ? true : undefined), { what: "host stopped after tier removed" });
    expect(a.agent.labels.tier).toBeUndefined();
  });

  it("replays policies written while the agent was stopped, and reports their KV revisions", async () => {
    // Something that will be deleted while the agent is away.
    const stale = await put(policy("pol_stale", { kind: "tcp_flows", params: {} }));
    await reconciled("pol_stale", stale);
    await a.stop();
    // Where the host probe's sequence resumes: the reservation persisted by the stopped agent.
    const resumeAt = Number(await readFile(path.join(dir.dir, "telemetry", "seq", "host"), "utf8"));
    const previousMax = Math.max(...telemetry.batches.map((b) => b.seq));
    expect(resumeAt).toBeGreaterThan(previousMax);

    const revision = await put(policy("pol_replay"));
    await kv.delete("pol_stale");
    const restartedAt = Date.now();
    a = await startInProcessAgent({ ...h.agentEndpoints, dataDir: dir.dir, hello: withoutBtf(await realHello(SUITE_LABEL)) });

    // start() resolves after the first reconcile over the replayed state.
    expect(a.agent.probeStatuses()).toEqual([expect.objectContaining({ kind: "host", policyId: "pol_replay", state: "running" })]);
    const report = await reconciled("pol_replay", revision);
    expect(report.appliedPolicies).toEqual({ pol_replay: revision });

    // The control plane stores the revisions the agent applied.
    await waitFor(async () => {
      const got = await h.client().agents.get.query({ id: a.agentId });
      return got.status === "online" && got.appliedPolicies.pol_replay === revision && !("pol_stale" in got.appliedPolicies) ? got : undefined;
    }, { what: "appliedPolicies with the KV revision in agents.get" });

    // Every batch of the restarted agent is stored, from its first one: its seq continues above the
    // previous run's (from the persisted reservation), so its msgIDs are new to JetStream's duplicate window.
    const fresh = await waitFor(async () => (telemetry.since(restartedAt).length >= 3 ? telemetry.since(restartedAt) : undefined), {
      what: "telemetry from the restarted agent",
      debug: () => JSON.stringify(telemetry.batches.slice(-5).map((b) => ({ seq: b.seq, sentAt: b.sentAt, version: b.probeVersion }))),
    });
    expect(fresh.slice(0, 3).map((b) => [b.seq, b.probeVersion])).toEqual([
      [resumeAt, "pol_replay-v1"],
      [resumeAt + 1, "pol_replay-v1"],
      [resumeAt + 2, "pol_replay-v1"],
    ]);
  });
});
