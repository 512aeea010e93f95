import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sql } from "drizzle-orm";
import { TRPCClientError } from "@trpc/client";
import type { RolloutView } from "@probepilot/shared";
import { startHarness, type Harness } from "@probepilot/testkit/control-plane-harness";
import { enrollAgents, type EnrolledAgent } from "@probepilot/testkit/fake-hello";
import { startTestFleet, waitForRollout, type TestFleet } from "@probepilot/testkit/rollout-fleet";
import { heartbeat, probe, publishStatus } from "@probepilot/testkit/status-messages";
import { publishGauge, publishSeries, sseClient } from "@probepilot/testkit/live-telemetry";
import { eventually, sleep } from "@probepilot/testkit/poll";
import { trpcError } from "@probepilot/testkit/trpc-error";

/**
 * The procedures the web UI needs beyond the CLI's: `telemetry.liveMany` (one
 * stream for a page of charts), `rollouts.annotations` (rollout transitions on
 * time charts) and `agents.summary` (Mission Control). A real control plane,
 * two hand-driven agents for telemetry and a probe failure, and a simulated
 * fleet (the real agent code) for the rollouts.
 */
let h: Harness;
let tenantId: string;
let agents: EnrolledAgent[];
let fleet: TestFleet;
const FLEET = 24;

beforeAll(async () => {
  h = await startHarness();
  const { token } = await h.client().enrollTokens.create.mutate({});
  ({ tenantId, agents } = await enrollAgents(h.cp.url, token, 2, {
    prefix: "ui",
    hello: (i) => ({ userLabels: { team: i === 0 ? "a" : "b" }, kernel: i === 0 ? "6.1.0-test" : "5.10.0-old" }),
  }));
  // Every process_exec v2 fails: a rollout of it fails its canary and rolls back.
  fleet = await startTestFleet(h, { agents: FLEET, labels: "env=prod:50%|staging:50%", fail: "process_exec@v2=100%", namePrefix: "ui" });
}, 120_000);
afterAll(async () => {
  await fleet?.stop();
  await h?.stop();
});

type LiveEvent =
  | { kind: "backfill"; series: { labels: Record<string, string>; points: [number, number | null][] }[]; stepMs: number; tier: string }
  | { kind: "update"; series: { labels: Record<string, string>; points: [number, number | null][] }[] };
type Received = { id: string; key: string; event: LiveEvent; at: number };

type ChartInput = { key: string; metric: string; agentSelector?: string; seriesSelector?: string; stepMs: number; agg: "avg" | "sum" | "min" | "max" | "count" | "rate"; by?: string[]; windowMs: number };

function subscribeMany(input: { charts: ChartInput[]; lastEventId?: string }) {
  const events: Received[] = [];
  const errors: unknown[] = [];
  const sub = sseClient(h).telemetry.liveMany.subscribe(input, {
    onData: (e) => events.push({ id: e.id, key: e.data.key, event: e.data.event, at: Date.now() }),
    onError: (err) => errors.push(err),
  });
  return { events, errors, stop: () => sub.unsubscribe() };
}

/** A chart's points as a client merging by timestamp sees them (later events replace earlier points), per group. */
function merged(events: Received[], key: string): Map<string, Map<number, number | null>> {
  const groups = new Map<string, Map<number, number | null>>();
  for (const e of events) {
    if (e.key !== key) continue;
    for (const s of e.event.series) {
      const g = JSON.stringify(s.labels);
      const points = groups.get(g) ?? new Map<number, number | null>();
      groups.set(g, points);
      for (const [ts, v] of s.points) points.set(ts, v);
    }
  }
  return groups;
}

const bucket = (ts: number, step = 1000) => ts - (ts % step);

async function storedSamples(metric: string): Promise<number> {
  const [row] = await h.cp.db.db.execute<{ n: number }>(sql`select count(*)::int as n from samples x join series s on s.id = x.series_id where s.metric = ${metric}`);
  return row!.n;
}

describe("telemetry.liveMany", () => {
  it("streams a backfill per chart, then live updates of charts with different metrics and selectors, in one stream", async () => {
    const stored = Date.now() - 20_000;
    await publishGauge(h, tenantId, agents[0]!.agentId, "ui_cpu", [[stored, 5]]);
    await publishGauge(h, tenantId, agents[1]!.agentId, "ui_mem", [[stored, 50]]);
    await eventually(async () => expect((await storedSamples("ui_cpu")) + (await storedSamples("ui_mem"))).toBe(2));

    const s = subscribeMany({
      charts: [
        { key: "cpu", metric: "ui_cpu", agentSelector: "team=a", stepMs: 1000, agg: "avg", windowMs: 60_000 },
        { key: "mem", metric: "ui_mem", agentSelector: "team in (b)", stepMs: 1000, agg: "max", by: ["team"], windowMs: 60_000 },
      ],
    });
    try {
      await eventually(() => expect(s.events.length).toBeGreaterThanOrEqual(2));
      // One backfill per chart first, in the order asked, each with its stored history.
      expect(s.events.slice(0, 2).map((e) => [e.key, e.event.kind])).toEqual([
        ["cpu", "backfill"],
        ["mem", "backfill"],
      ]);
      expect(merged(s.events.slice(0, 1), "cpu").get("{}")?.get(bucket(stored))).toBe(5);
      expect(merged(s.events.slice(1, 2), "mem").get(JSON.stringify({ team: "b" }))?.get(bucket(stored))).toBe(50);

      // Live: each chart gets its own metric from its own agents; the other agent's points are not in it.
      const now = Date.now();
      await publishGauge(h, tenantId, agents[0]!.agentId, "ui_cpu", [[now, 10]]);
      await publishGauge(h, tenantId, agents[1]!.agentId, "ui_cpu", [[now, 99]]);
      await publishGauge(h, tenantId, agents[1]!.agentId, "ui_mem", [[now, 30]]);
      await publishGauge(h, tenantId, agents[0]!.agentId, "ui_mem", [[now, 77]]);
      await eventually(() => {
        expect(merged(s.events, "cpu").get("{}")?.get(bucket(now))).toBe(10);
        expect(merged(s.events, "mem").get(JSON.stringify({ team: "b" }))?.get(bucket(now))).toBe(30);
      });
      const updates = s.events.filter((e) => e.event.kind === "update");
      expect(new Set(updates.map((e) => e.key))).toEqual(new Set(["cpu", "mem"]));
      expect(s.events.slice(2).every((e) => e.event.kind === "update")).toBe(true);
      // Ids are resume times: numbers that never go back.
      const ids = s.events.map((e) => Number(e.id));
      expect(ids.every(Number.isFinite)).toBe(true);
      expect(ids.slice(2)).toEqual([...ids.slice(2)].sort((a, b) => a - b));
      expect(s.errors).toEqual([]);
    } finally {
      s.stop();
    }
  });

  it("a point of the second before the subscription that arrives after it (agents batch about 1 s) still shows", async () => {
    const before = Date.now();
    const s = subscribeMany({ charts: [{ key: "late", metric: "ui_late", agentSelector: "team=a", stepMs: 1000, agg: "max", windowMs: 60_000 }] });
    try {
      await eventually(() => expect(s.events.length).toBeGreaterThanOrEqual(1));
      // In the second before the one current at subscription time: older than the first live bucket, and not stored yet.
      const late = bucket(before) - 300;
      await publishGauge(h, tenantId, agents[0]!.agentId, "ui_late", [[late, 7]]);
      await eventually(() => expect(merged(s.events, "late").get("{}")?.get(bucket(late))).toBe(7));
    } finally {
      s.stop();
    }
  });

  it("coalesces a flood on two charts into at most 10 updates a second each, losing nothing", async () => {
    const s = subscribeMany({
      charts: [
        { key: "f1", metric: "ui_flood_1", stepMs: 1000, agg: "count", windowMs: 10_000 },
        { key: "f2", metric: "ui_flood_2", stepMs: 1000, agg: "count", windowMs: 10_000 },
      ],
    });
    try {
      await eventually(() => expect(s.events.length).toBeGreaterThanOrEqual(2)); // the backfills
      const started = Date.now();
      let last = 0;
      for (let i = 0; i < 150; i++) {
        // Distinct timestamps: one sample per series and millisecond.
        last = Math.max(Date.now(), last + 1);
        await publishGauge(h, tenantId, agents[0]!.agentId, "ui_flood_1", [[last, i]]);
        await publishGauge(h, tenantId, agents[1]!.agentId, "ui_flood_2", [[last, i]]);
      }
      await sleep(1200);
      const seconds = Math.max(1, (Date.now() - started) / 1000);
      for (const key of ["f1", "f2"]) {
        const updates = s.events.filter((e) => e.key === key && e.event.kind === "update" && e.at >= started);
        expect(updates.length).toBeGreaterThan(0);
        expect(updates.length / seconds, key).toBeLessThanOrEqual(11); // 10/s, plus one tick of slack
        const counts = [...(merged(updates, key).get("{}") ?? new Map()).values()];
        expect(counts.reduce((a: number, b) => a + (b ?? 0), 0), key).toBe(150);
      }
    } finally {
      s.stop();
    }
  });

  it("a client reconnecting with its last event id gets every chart's points since, without a gap", async () => {
    const charts: ChartInput[] = [
      { key: "r1", metric: "ui_resume_1", agentSelector: "team=a", stepMs: 1000, agg: "max", windowMs: 60_000 },
      { key: "r2", metric: "ui_resume_2", agentSelector: "team=b", stepMs: 1000, agg: "max", windowMs: 60_000 },
    ];
    const first = subscribeMany({ charts });
    await eventually(() => expect(first.events.length).toBeGreaterThanOrEqual(2));
    const t0 = Date.now();
    await publishGauge(h, tenantId, agents[0]!.agentId, "ui_resume_1", [[t0, 1]]);
    await publishGauge(h, tenantId, agents[1]!.agentId, "ui_resume_2", [[t0, 1]]);
    await eventually(() => {
      expect(merged(first.events, "r1").get("{}")?.get(bucket(t0))).toBe(1);
      expect(merged(first.events, "r2").get("{}")?.get(bucket(t0))).toBe(1);
    });
    first.stop();
    const lastId = first.events.at(-1)!.id;

    // While disconnected, both charts get more data (stored by the ingester).
    await sleep(1100);
    const t1 = Date.now();
    await publishGauge(h, tenantId, agents[0]!.agentId, "ui_resume_1", [[t1, 2]]);
    await publishGauge(h, tenantId, agents[1]!.agentId, "ui_resume_2", [[t1, 2]]);
    await sleep(1100);
    await eventually(async () => expect((await storedSamples("ui_resume_1")) + (await storedSamples("ui_resume_2"))).toBe(4));

    const again = subscribeMany({ charts, lastEventId: lastId });
    try {
      // What the client has: the first stream's points, then the resumed stream's merged over them.
      await eventually(() => {
        for (const key of ["r1", "r2"]) {
          const points = merged([...first.events, ...again.events], key).get("{}");
          expect(points?.get(bucket(t0)), key).toBe(1);
          expect(points?.get(bucket(t1)), key).toBe(2);
        }
      });
      // A resume, not a fresh window: each backfill starts at the resume time.
      for (const e of again.events.filter((e) => e.event.kind === "backfill")) {
        expect(e.event.series[0]!.points[0]![0], e.key).toBe(bucket(Number(lastId)));
      }
      expect(again.errors).toEqual([]);
    } finally {
      again.stop();
    }
  });

  it("rejects duplicate keys, too many charts and a bad chart with messages that say what to change", async () => {
    const chart = (key: string): ChartInput => ({ key, metric: "ui_cpu", stepMs: 1000, agg: "avg", windowMs: 60_000 });
    const failure = async (input: { charts: ChartInput[] }) => {
      const s = subscribeMany(input);
      try {
        await eventually(() => expect(s.errors.length).toBeGreaterThanOrEqual(1));
        expect(s.events).toEqual([]);
        const err = s.errors[0] as TRPCClientError<any>;
        expect(err).toBeInstanceOf(TRPCClientError);
        return err.message;
      } finally {
        s.stop();
      }
    };
    expect(await failure({ charts: [chart("cpu"), chart("mem"), chart("cpu")] })).toBe(`invalid input: charts: key "cpu" is used twice; each chart of a stream needs its own key`);
    expect(await failure({ charts: Array.from({ length: 65 }, (_, i) => chart(`c${i}`)) })).toBe("invalid input: charts: at most 64 charts per stream (65 given); split a bigger page into several streams");
    expect(await failure({ charts: [] })).toBe("invalid input: charts: give at least one chart");
    expect(await failure({ charts: [chart("ok"), { ...chart("bad"), agentSelector: "env in staging" }] })).toMatch(/^invalid input: charts\.1\.agentSelector: .*expected "\("/);
    // A window with more points than a range query returns is refused up front, not once the stream runs.
    expect(await failure({ charts: [chart("fine"), { ...chart("dense"), stepMs: 100, windowMs: 24 * 3_600_000 }] })).toBe(
      "invalid input: charts.1.windowMs: a window of 86400000 ms at step 100 ms is 864000 points; at most 10999: use a step of at least 7856 ms or a shorter window",
    );
    // A chart the range query refuses once the stream runs (here: more groups than it returns)
    // ends the stream with the query's message naming the chart, as a 400 (not a retryable 500).
    const wideAt = Date.now() - 5000;
    await publishSeries(h, tenantId, agents[0]!.agentId, Array.from({ length: 501 }, (_, i) => ({ metric: "ui_wide", kind: "gauge" as const, labels: { i: String(i) }, points: [[wideAt, i]] as [number, number][] })));
    await eventually(async () => expect(await storedSamples("ui_wide")).toBe(501));
    const wide = subscribeMany({ charts: [chart("fine"), { ...chart("wide"), metric: "ui_wide", by: ["i"] }] });
    try {
      await eventually(() => expect(wide.errors.length).toBe(1));
      const err = wide.errors[0] as TRPCClientError<any>;
      expect(err.data?.code).toBe("BAD_REQUEST");
      expect(err.message).toMatch(/^chart "wide": "ui_wide" gives 501 series grouped by i; the limit is 500: narrow agentSelector or seriesSelector/);
      expect(wide.events.map((e) => e.key)).toEqual(["fine"]);
    } finally {
      wide.stop();
    }
    // 64 is fine.
    const many = subscribeMany({ charts: Array.from({ length: 64 }, (_, i) => chart(`c${i}`)) });
    try {
      await eventually(() => expect(many.events.length).toBe(64), { timeoutMs: 20_000 });
      expect(many.events.map((e) => e.key)).toEqual(Array.from({ length: 64 }, (_, i) => `c${i}`));
      expect(many.errors).toEqual([]);
    } finally {
      many.stop();
    }
  });
});

describe("rollouts.annotations and agents.summary after real rollouts", () => {
  let started: number;
  let prod: RolloutView;
  let staging: RolloutView;
  let empty: RolloutView;

  beforeAll(async () => {
    const api = h.client();
    started = Date.now() - 1;
    // prod: paused, resumed and promoted by an operator, then completes by itself.
    const tcp = await api.probes.createVersion.mutate({ probe: "tcp_flows", params: { minDurationMs: 3 } });
    prod = await api.rollouts.create.mutate({
      probe: "tcp_flows",
      version: tcp.version,
      selector: "env=prod",
      strategy: { waves: [{ percent: 50 }, { percent: 100 }], bakeSeconds: 2, gate: { timeoutSeconds: 30, minHealthyPercent: 100, maxFailedPercent: 0 } },
    });
    await api.rollouts.pause.mutate({ id: prod.id, reason: "looking at the canary" });
    await api.rollouts.resume.mutate({ id: prod.id });
    await api.rollouts.promote.mutate({ id: prod.id });
    prod = await waitForRollout(h, prod.id, (v) => v.state === "completed");
    // staging: every agent fails process_exec v2, the canary fails, the rollout rolls itself back.
    const exec = await api.probes.createVersion.mutate({ probe: "process_exec", params: { maxEventsPerSec: 400 } });
    expect(exec.version).toBe(2);
    staging = await api.rollouts.create.mutate({
      probe: "process_exec",
      version: exec.version,
      selector: "env=staging",
      strategy: { waves: [{ percent: 50 }, { percent: 100 }], bakeSeconds: 1, gate: { timeoutSeconds: 30, minHealthyPercent: 100, maxFailedPercent: 0 }, onFailure: "rollback" },
    });
    staging = await waitForRollout(h, staging.id, (v) => v.state === "rolled_back");
    // No agent matches: it touches nobody and never shows on a chart.
    empty = await api.rollouts.create.mutate({ probe: "runqueue_latency", selector: "env=nowhere", strategy: { waves: [{ percent: 100 }], bakeSeconds: 0 } });
    empty = await waitForRollout(h, empty.id, (v) => v.state === "completed");
  }, 120_000);

  const annotations = (input: { agentSelector?: string; from?: number; to?: number; limit?: number }) =>
    h.client().rollouts.annotations.query({ from: started, to: Date.now() + 1, ...input });

  it("a chart of the prod agents shows the prod rollout's transitions, worded, with how many of its agents it touched", async () => {
    const { items } = await annotations({ agentSelector: "env=prod" });
    const prodAgents = (await h.client().agents.list.query({ selector: "env=prod", limit: 1 })).total;
    expect(items.map((a) => a.kind)).toEqual(["created", "paused", "resumed", "promoted", "wave_started", "completed"]);
    expect(items.every((a) => a.rolloutId === prod.id && a.probe === "tcp_flows" && a.version === 2 && a.agents === prodAgents)).toBe(true);
    expect(items.map((a) => a.text)).toEqual([
      "tcp_flows v2 · rollout created by bootstrap-admin; wave 1 of 2 started (50%)",
      "tcp_flows v2 · paused by bootstrap-admin: looking at the canary",
      "tcp_flows v2 · resumed by bootstrap-admin",
      "tcp_flows v2 · wave 1 of 2 promoted by bootstrap-admin",
      "tcp_flows v2 · wave 2 of 2 started (100%)",
      "tcp_flows v2 · completed (2 waves)",
    ]);
    // In time order, each at its audit entry's time.
    const history = await h.client().rollouts.history.query({ id: prod.id });
    const drawn = history.filter((e) => e.action !== "rollout.gate_passed" && e.action !== "rollout.wave_completed");
    expect(items.map((a) => a.ts)).toEqual(drawn.map((e) => Date.parse(e.at)));
  });

  it("a chart of the staging agents shows the failed rollout and its rollback, and not the prod rollout", async () => {
    const { items } = await annotations({ agentSelector: "env=staging" });
    expect(new Set(items.map((a) => a.rolloutId))).toEqual(new Set([staging.id]));
    expect(items.map((a) => a.kind)).toEqual(["created", "rolling_back", "rolled_back"]);
    expect(items[1]!.text).toMatch(/^process_exec v2 · rolling back: wave 1\/2 failed: \d+ of \d+ agents failed .*simulated failure/);
    expect(items[2]!.text).toBe("process_exec v2 · rolled back");
  });

  it("without a selector: every rollout that touched an agent, oldest first; the one that touched none is left out", async () => {
    const { items } = await annotations({});
    expect(new Set(items.map((a) => a.rolloutId))).toEqual(new Set([prod.id, staging.id]));
    expect(items.some((a) => a.rolloutId === empty.id)).toBe(false);
    expect(items.map((a) => a.ts)).toEqual([...items.map((a) => a.ts)].sort((a, b) => a - b));
    expect(items.find((a) => a.rolloutId === staging.id)!.agents).toBe((await h.client().agents.list.query({ selector: "env=staging", limit: 1 })).total);
    // One agent's chart: the rollout touched that one agent.
    const host = (await h.client().agents.list.query({ selector: "env=prod", limit: 1 })).items[0]!.hostname;
    const one = await annotations({ agentSelector: `probepilot.io/hostname=${host}` });
    expect(one.items.length).toBe(6);
    expect(one.items.every((a) => a.rolloutId === prod.id && a.agents === 1)).toBe(true);
    // More than the limit: the newest, still oldest first.
    const limited = await annotations({ limit: 2 });
    expect(limited.items).toEqual(items.slice(-2));
    // Outside the range: nothing.
    expect((await annotations({ from: 0, to: started })).items).toEqual([]);
  });

  it("checks its input", async () => {
    const backwards = await trpcError(annotations({ from: 2000, to: 1000 }));
    expect(backwards.data?.code).toBe("BAD_REQUEST");
    expect(backwards.message).toBe("invalid input: to: to must be after from");
    const selector = await trpcError(annotations({ agentSelector: "env in staging" }));
    expect(selector.message).toMatch(/^invalid input: agentSelector: .*expected "\("/);
    const limit = await trpcError(annotations({ limit: 5000 }));
    expect(limit.message).toBe("invalid input: limit: limit must be at most 1000");
  });

  it("agents.summary counts what the agents list shows and lists the newest failures, from probes and from rollouts", async () => {
    // One hand-driven agent reports a probe that fails to attach, next to one that runs.
    const failing = agents[1]!;
    const at = Date.now();
    await publishStatus(
      h.cp.nc.jetstream(),
      heartbeat(tenantId, failing.agentId, {
        at,
        seq: 100,
        probes: [probe({ kind: "host", state: "running", since: at - 5000 }), probe({ kind: "file_open", version: "v1", state: "failed", error: "attach failed: tracepoint syscalls/sys_enter_openat not found", since: at })],
      }),
    );
    await eventually(async () => {
      const [row] = await h.cp.db.db.execute<{ n: number }>(sql`select jsonb_array_length(probes)::int as n from agents where id = ${failing.agentId}`);
      expect(row!.n).toBe(2);
    });

    // Agents may go offline between the two reads (the hand-driven ones stop heartbeating): retry until both agree.
    const summary = await eventually(async () => {
      const s = await h.client().agents.summary.query({});
      const list = (await h.client().agents.list.query({ limit: 1000 })).items;
      expect(s.total).toBe(list.length);
      expect(s.total).toBe(FLEET + 2);
      const byStatus: Record<string, number> = { online: 0, offline: 0, revoked: 0 };
      const kernels = new Map<string, number>();
      const probes = { total: 0, running: 0, failed: 0 };
      for (const a of list) {
        byStatus[a.status]!++;
        kernels.set(a.kernel, (kernels.get(a.kernel) ?? 0) + 1);
        if (a.status !== "online") continue;
        for (const p of a.probes) {
          probes.total++;
          if (p.state === "running" || p.state === "verified") probes.running++;
          if (p.state === "failed") probes.failed++;
        }
      }
      expect(s.byStatus).toEqual(byStatus);
      expect(s.byKernel).toEqual([...kernels].map(([kernel, count]) => ({ kernel, count })).sort((a, b) => b.count - a.count || a.kernel.localeCompare(b.kernel)));
      expect(s.probes).toEqual(probes);
      return s;
    });
    expect(summary.byKernel.map((k) => k.kernel)).toEqual(expect.arrayContaining(["6.1.0-test", "5.10.0-old"]));
    expect(summary.probes.failed).toBeGreaterThanOrEqual(1);
    expect(summary.probes.running).toBeGreaterThan(0);

    const failures = summary.recentFailures;
    expect(failures.length).toBeLessThanOrEqual(20);
    expect(failures.map((f) => f.at)).toEqual([...failures.map((f) => f.at)].sort((a, b) => b - a));
    expect(failures).toContainEqual({ at, agentId: failing.agentId, hostname: "ui-1", probe: "file_open", message: "attach failed: tracepoint syscalls/sys_enter_openat not found", source: "probe", rolloutId: null });
    const fromRollout = failures.filter((f) => f.source === "rollout");
    expect(fromRollout.length).toBeGreaterThan(0);
    const staged = new Set((await h.client().agents.list.query({ selector: "env=staging", limit: 1000 })).items.map((a) => a.hostname));
    for (const f of fromRollout) {
      expect(f).toMatchObject({ rolloutId: staging.id, probe: "process_exec", message: expect.stringMatching(/simulated failure of process_exec v2/) });
      expect(staged.has(f.hostname), f.hostname).toBe(true);
    }
    // Each failure once, even when the agent still reports the probe failed.
    expect(new Set(failures.map((f) => `${f.agentId} ${f.probe} ${f.message}`)).size).toBe(failures.length);
  });
});
