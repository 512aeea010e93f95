import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sql } from "drizzle-orm";
import { TRPCClientError, createTRPCClient, httpSubscriptionLink } from "@trpc/client";
import { EventSource } from "eventsource";
import { matchesSelector, newId, parseSelector, type RolloutView } from "@probepilot/shared";
import type { AppRouter } from "../../../src/trpc/app-router.ts";
import { startHarness, type Harness } from "@probepilot/testkit/control-plane-harness";
import { startTestFleet, transitionsOf, waitForRollout, type TestFleet } from "@probepilot/testkit/rollout-fleet";
import { eventually, sleep } from "@probepilot/testkit/poll";
import { trpcError } from "@probepilot/testkit/trpc-error";

/**
 * Staged rollouts end to end: a real control plane (status consumer, rollout
 * engine, policy bucket) and 300 simulated agents running the real agent code
 * (policy watch, local selector and wave evaluation, reconcile, status reports).
 * 30 % of the agents fail `process_exec` v2 (simulated), nothing else fails.
 */
let h: Harness;
let fleet: TestFleet;
const AGENTS = 300;

beforeAll(async () => {
  h = await startHarness();
  fleet = await startTestFleet(h, { agents: AGENTS, labels: "env=prod:80%|staging:20%,region=eu|us|ap", fail: "process_exec@v2=30%", unsupported: "oom_kills@v2=10%" });
}, 120_000);

afterAll(async () => {
  await fleet?.stop();
  await h?.stop();
});

/** What the agents run, from their own reports in Postgres: agent id → policy ids of their probes. */
async function runningPolicies(): Promise<Map<string, { policyId?: string; state: string; kind: string }[]>> {
  const rows = await h.cp.db.db.execute<{ id: string; probes: { policyId?: string; state: string; kind: string }[] }>(sql`select id, probes from agents`);
  return new Map(rows.map((r) => [r.id, r.probes]));
}

describe("a clean rollout", () => {
  let preview: Awaited<ReturnType<Harness["client"]>>["rollouts"]["preview"]["query"] extends (...a: never[]) => Promise<infer T> ? T : never;
  let done: RolloutView;

  it("reaches 100 % of the matching agents wave by wave, and the preview's counts are the agents that applied", { timeout: 90_000 }, async () => {
    const api = h.client();
    const version = await api.probes.createVersion.mutate({ probe: "tcp_flows", params: { minDurationMs: 2 } });
    const waves = [{ percent: 5 }, { percent: 30 }, { percent: 100 }];
    preview = await api.rollouts.preview.query({ probe: "tcp_flows", version: version.version, selector: "env=prod,region in (eu,us)", waves });
    // Every (kernel, arch, distribution) stratum among the matching agents has a canary member.
    expect(preview.canary.length).toBeGreaterThanOrEqual(3);
    expect(preview.waves.at(-1)!.cumulative).toBe(preview.matching);

    const created = await api.rollouts.create.mutate({
      probe: "tcp_flows",
      version: version.version,
      selector: "env=prod,region in (eu,us)",
      rolloutId: preview.rolloutId,
      strategy: { waves, bakeSeconds: 1, gate: { timeoutSeconds: 30, minHealthyPercent: 100, maxFailedPercent: 0 } },
    });
    expect(created.id).toBe(preview.rolloutId);
    expect(created.waves.map((w) => w.planned)).toEqual(preview.waves.map((w) => w.count));

    done = await waitForRollout(h, created.id, (v) => v.state !== "running", 60_000);
    expect(done.state).toBe("completed");
    expect(done.totals.verified).toBe(preview.matching);

    // The agents that applied, per wave, are exactly the preview's counts.
    const history = await transitionsOf(h, created.id);
    const appliedPerWave = preview.waves.map((w) => [...history.values()].filter((a) => a.wave === w.index && a.states.includes("applied")).length);
    expect(appliedPerWave).toEqual(preview.waves.map((w) => w.count));

    // And on the agents themselves: the matching ones run it, the others do not.
    const selector = parseSelector("env=prod,region in (eu,us)");
    const running = await runningPolicies();
    const labels = await h.cp.db.db.execute<{ id: string; labels: Record<string, string> }>(sql`select id, labels from agents`);
    for (const a of labels) {
      const has = (running.get(a.id) ?? []).some((p) => p.policyId === done.policyId && p.state === "running");
      expect(has, a.id).toBe(matchesSelector(selector, a.labels));
    }
  });

  it("keeps every transition in the audit trail with its actor", async () => {
    const history = await h.client().rollouts.history.query({ id: done.id });
    const actions = history.map((e) => `${e.actor === "engine" ? "engine" : "operator"}:${e.action}`);
    expect(actions[0]).toBe("operator:rollout.create");
    expect(actions.filter((a) => a === "engine:rollout.wave_started")).toHaveLength(2);
    expect(actions.at(-1)).toBe("engine:rollout.completed");
  });

  it("rolls a completed rollout back: every agent drops the version, each row keeps it as attempted", { timeout: 60_000 }, async () => {
    await h.client().rollouts.rollback.mutate({ id: done.id, reason: "test" });
    const back = await waitForRollout(h, done.id, (v) => v.state === "rolled_back");
    expect(back.totals.rolled_back).toBe(preview.matching);
    const running = await runningPolicies();
    for (const probes of running.values()) expect(probes.some((p) => p.policyId === done.policyId)).toBe(false);
    const agents = await h.client().rollouts.agents.query({ id: done.id, limit: 5 });
    expect(agents.items.every((a) => a.state === "rolled_back" && a.attemptedVersion === done.probe.version)).toBe(true);
  });
});

describe("a failing canary", () => {
  it("rolls back by itself, and no agent outside the canary ever applied the failing version", { timeout: 90_000 }, async () => {
    const api = h.client();
    const version = await api.probes.createVersion.mutate({ probe: "process_exec", params: { maxEventsPerSec: 500 } });
    expect(version.version).toBe(2); // the fleet fails process_exec v2 on 30 % of agents
    const created = await api.rollouts.create.mutate({
      probe: "process_exec",
      version: version.version,
      selector: "env in (prod,staging)",
      strategy: { waves: [{ percent: 10 }, { percent: 50 }, { percent: 100 }], bakeSeconds: 30, gate: { timeoutSeconds: 30, minHealthyPercent: 95, maxFailedPercent: 5 }, onFailure: "rollback" },
    });
    const canarySize = created.waves[0]!.planned;
    expect(canarySize).toBeGreaterThan(10);

    const done = await waitForRollout(h, created.id, (v) => v.state === "rolled_back", 60_000);
    expect(done.currentWave).toBe(0);
    expect(done.stateReason).toMatch(/^wave 1\/3 failed: \d+ of \d+ agents failed .*simulated failure/);
    expect(done.recentFailures.length).toBeGreaterThan(0);

    const history = await transitionsOf(h, created.id);
    const touched = [...history.entries()].filter(([, a]) => a.states.some((s) => s === "applying" || s === "applied" || s === "failed"));
    expect(touched.length).toBeGreaterThan(0);
    for (const [agentId, a] of touched) expect(a.wave, `${agentId} applied the failing version outside the canary`).toBe(0);
    // Every canary agent that tried ends rolled back, and no agent runs the version any more.
    for (const [, a] of touched) expect(a.states.at(-1)).toBe("rolled_back");
    const running = await runningPolicies();
    for (const probes of running.values()) expect(probes.some((p) => p.policyId === done.policyId)).toBe(false);

    const actions = (await api.rollouts.history.query({ id: created.id })).map((e) => `${e.actor}:${e.action}`);
    expect(actions).toContain("engine:rollout.rollback");
    expect(actions.at(-1)).toBe("engine:rollout.rolled_back");
  });
});

describe("operator actions", () => {
  it("pause holds the stage, resume carries on, promote skips the bake", { timeout: 90_000 }, async () => {
    const api = h.client();
    const version = await api.probes.createVersion.mutate({ probe: "runqueue_latency", params: { intervalMs: 2000 } });
    const created = await api.rollouts.create.mutate({
      probe: "runqueue_latency",
      version: version.version,
      selector: "env=staging",
      strategy: { waves: [{ percent: 25 }, { percent: 100 }], bakeSeconds: 600, gate: { timeoutSeconds: 60, minHealthyPercent: 100, maxFailedPercent: 0 } },
    });
    await waitForRollout(h, created.id, (v) => v.phase === "bake");
    const paused = await api.rollouts.pause.mutate({ id: created.id, reason: "looking at the canary" });
    expect(paused.state).toBe("paused");
    expect(paused.stateReason).toBe("looking at the canary");
    // Paused, promote is still possible; pause again is not.
    const again = await trpcError(api.rollouts.pause.mutate({ id: created.id }));
    expect(again.message).toMatch(/is paused: pause needs a rollout that is running/);

    const resumed = await api.rollouts.resume.mutate({ id: created.id });
    expect(resumed.state).toBe("running");
    await waitForRollout(h, created.id, (v) => v.phase === "bake" && v.currentWave === 0);
    const promoted = await api.rollouts.promote.mutate({ id: created.id });
    expect(promoted.state).toBe("running");
    await waitForRollout(h, created.id, (v) => v.currentWave === 1 && v.phase === "bake");
    await api.rollouts.promote.mutate({ id: created.id });
    const done = await waitForRollout(h, created.id, (v) => v.state === "completed");
    expect(done.totals.verified).toBe(done.matching);
    const operatorActions = (await api.rollouts.history.query({ id: created.id })).filter((e) => e.actor !== "engine").map((e) => e.action);
    expect(operatorActions).toEqual(["rollout.create", "rollout.pause", "rollout.resume", "rollout.promote", "rollout.promote"]);
  });

  it("abort stops where it is: the canary keeps the version, nobody else gets it", { timeout: 60_000 }, async () => {
    const api = h.client();
    const version = await api.probes.createVersion.mutate({ probe: "block_io_latency", params: { intervalMs: 3000 } });
    const created = await api.rollouts.create.mutate({
      probe: "block_io_latency",
      version: version.version,
      selector: "region=ap",
      strategy: { waves: [{ percent: 20 }, { percent: 100 }], bakeSeconds: 600 },
    });
    await waitForRollout(h, created.id, (v) => v.phase === "bake");
    const aborted = await api.rollouts.abort.mutate({ id: created.id });
    expect(aborted.state).toBe("aborted");
    await sleep(1000);
    const after = await api.rollouts.get.query({ id: created.id });
    expect(after.totals.applied + after.totals.verified).toBe(after.waves[0]!.planned);
    expect(after.waves[1]!.counts.pending).toBe(after.waves[1]!.planned);
  });

  it("shows agents whose labels change mid-rollout instead of silently dropping or adding them", { timeout: 60_000 }, async () => {
    const api = h.client();
    const version = await api.probes.createVersion.mutate({ probe: "tcp_connect_latency", params: { intervalMs: 2000 } });
    const created = await api.rollouts.create.mutate({
      probe: "tcp_connect_latency",
      version: version.version,
      selector: "region=eu",
      strategy: { waves: [{ percent: 100 }], bakeSeconds: 600 },
    });
    await waitForRollout(h, created.id, (v) => v.phase === "bake");
    const { items } = await api.agents.list.query({ selector: "region=eu", limit: 1 });
    const { items: outsiders } = await api.agents.list.query({ selector: "region=us", limit: 1 });
    await api.agents.setLabels.mutate({ id: items[0]!.id, labels: { region: "us" } });
    await api.agents.setLabels.mutate({ id: outsiders[0]!.id, labels: { region: "eu" } });
    const v = await waitForRollout(h, created.id, (r) => r.membership.relabeled_out === 1 && r.membership.relabeled_in === 1);
    const moved = await api.rollouts.agents.query({ id: created.id, limit: 1000 });
    expect(moved.items.find((a) => a.agentId === items[0]!.id)!.membership).toBe("relabeled_out");
    expect(moved.items.find((a) => a.agentId === outsiders[0]!.id)!.membership).toBe("relabeled_in");
    // The agent that came in by its labels applies the stage it is in.
    await eventually(async () => {
      const again = await api.rollouts.agents.query({ id: created.id, limit: 1000 });
      expect(again.items.find((a) => a.agentId === outsiders[0]!.id)!.state).toBe("applied");
    });
    await api.rollouts.abort.mutate({ id: created.id });
    expect(v.membership.initial).toBeGreaterThan(0);
  });

  it("reports unsupported agents as skipped with the reason, and they do not hold the gate", { timeout: 60_000 }, async () => {
    const api = h.client();
    const version = await api.probes.createVersion.mutate({ probe: "oom_kills", params: { intervalMs: 2000 } });
    const created = await api.rollouts.create.mutate({ probe: "oom_kills", version: version.version, selector: "env=staging", strategy: { waves: [{ percent: 100 }], bakeSeconds: 0 } });
    const done = await waitForRollout(h, created.id, (v) => v.state !== "running");
    expect(done.state).toBe("completed");
    expect(done.totals.skipped).toBeGreaterThan(0);
    const skipped = await api.rollouts.agents.query({ id: created.id, state: "skipped" });
    expect(skipped.items[0]!.error).toMatch(/simulated/);
  });
});

describe("agents joining mid-rollout", () => {
  it("get the stage their hash places them in", { timeout: 90_000 }, async () => {
    const api = h.client();
    const version = await api.probes.createVersion.mutate({ probe: "process_exit", params: { intervalMs: 2000 } });
    const created = await api.rollouts.create.mutate({
      probe: "process_exit",
      version: version.version,
      selector: "team=late",
      strategy: { waves: [{ percent: 50 }, { percent: 100 }], bakeSeconds: 600, gate: { timeoutSeconds: 60, minHealthyPercent: 0, maxFailedPercent: 100 } },
    });
    expect(created.matching).toBe(0);
    const late = await startTestFleet(h, { agents: 40, labels: "team=late", namePrefix: "late" });
    try {
      const v = await waitForRollout(h, created.id, (r) => r.membership.joined === 40 && r.totals.applied === r.waves[0]!.planned);
      expect(v.waves[0]!.planned + v.waves[1]!.planned).toBe(40);
      expect(v.waves[0]!.planned).toBeGreaterThan(5);
      expect(v.waves[1]!.counts.pending).toBe(v.waves[1]!.planned);
    } finally {
      await api.rollouts.abort.mutate({ id: created.id });
      await late.stop();
    }
  });
});

describe("bad input", () => {
  it("rejects an invalid selector, an unknown probe or version, shrinking waves and a second rollout of a kind, saying what is wrong", async () => {
    const api = h.client();
    const badSelector = await trpcError(api.rollouts.preview.query({ probe: "tcp_flows", selector: "env in staging" }));
    expect(badSelector.data?.code).toBe("BAD_REQUEST");
    expect(badSelector.message).toMatch(/expected "\(" after "in"/);
    const unknown = await trpcError(api.rollouts.create.mutate({ probe: "tcp_flow", selector: "env=prod" }));
    expect(unknown.data?.code).toBe("NOT_FOUND");
    expect(unknown.message).toMatch(/tcp_flow.*tcp_flows/s);
    const noVersion = await trpcError(api.rollouts.preview.query({ probe: "tcp_flows", version: 99, selector: "env=prod" }));
    expect(noVersion.data?.code).toBe("NOT_FOUND");
    const shrinking = await trpcError(api.rollouts.preview.query({ probe: "tcp_flows", selector: "env=prod", waves: [{ percent: 50 }, { percent: 10 }] }));
    expect(shrinking.message).toMatch(/waves must grow: 10% after 50%/);

    const first = await api.rollouts.create.mutate({ probe: "syscall_counts", selector: "env=staging", strategy: { bakeSeconds: 600 } });
    const second = await trpcError(api.rollouts.create.mutate({ probe: "syscall_counts", selector: "env=prod" }));
    expect(second.data?.code).toBe("CONFLICT");
    expect(second.message).toContain(first.id);
    await api.rollouts.abort.mutate({ id: first.id });
    const finished = await trpcError(api.rollouts.resume.mutate({ id: first.id }));
    expect(finished.data?.code).toBe("CONFLICT");
    expect(finished.message).toMatch(/is aborted: resume needs a rollout that is paused/);
  });
});

describe("rollouts.watch", () => {
  const subscriber = () =>
    createTRPCClient<AppRouter>({
      links: [
        httpSubscriptionLink({
          url: `${h.cp.url}/trpc`,
          EventSource,
          eventSourceOptions: () => ({ fetch: (u, init) => fetch(u, { ...init, headers: { ...init?.headers, authorization: `Bearer ${h.adminToken}` } }) }),
        }),
      ],
    });

  it("streams the rollout as it moves, wave by wave, to its end", { timeout: 60_000 }, async () => {
    const api = h.client();
    const version = await api.probes.createVersion.mutate({ probe: "cpu_profile", params: { sampleHz: 49 } });
    const created = await api.rollouts.create.mutate({
      probe: "cpu_profile",
      version: version.version,
      selector: "env=prod",
      strategy: { waves: [{ percent: 10 }, { percent: 100 }], bakeSeconds: 1, gate: { timeoutSeconds: 30, minHealthyPercent: 100, maxFailedPercent: 0 } },
    });
    const seen: RolloutView[] = [];
    await new Promise<void>((resolve, reject) => {
      const sub = subscriber().rollouts.watch.subscribe(
        { id: created.id },
        {
          onData: (v) => {
            seen.push(v);
            if (v.state !== "running") (sub.unsubscribe(), resolve());
          },
          onError: (err) => (sub.unsubscribe(), reject(err)),
        },
      );
    });
    expect(seen[0]!.state).toBe("running");
    expect(seen.some((v) => v.currentWave === 0 && v.phase === "bake")).toBe(true);
    expect(seen.some((v) => v.currentWave === 1)).toBe(true);
    expect(seen.at(-1)!.state).toBe("completed");
    // Applied counts only grow as the frames go by.
    const applied = seen.map((v) => v.totals.applied + v.totals.verified);
    expect(applied).toEqual([...applied].sort((a, b) => a - b));
  });

  it("ends with NOT_FOUND (not a retryable error) for a rollout that does not exist", async () => {
    const err = await new Promise<unknown>((resolve) => {
      const sub = subscriber().rollouts.watch.subscribe({ id: newId("rollout") }, { onData: () => resolve(new Error("got data")), onError: (e) => (sub.unsubscribe(), resolve(e)) });
    });
    expect(err).toBeInstanceOf(TRPCClientError);
    expect((err as TRPCClientError<AppRouter>).data?.code).toBe("NOT_FOUND");
  });
});
