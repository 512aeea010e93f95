import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type postgres from "postgres";
import { telemetrySubject, type MetricSeries, type TelemetryBatch } from "@probepilot/shared";
import { startHarness, type Harness } from "@probepilot/testkit/control-plane-harness";
import { enrollAgents, type EnrolledAgent } from "@probepilot/testkit/fake-hello";
import { createTenant, type TestTenant } from "@probepilot/testkit/tenants";
import { eventually } from "@probepilot/testkit/poll";
import { trpcError } from "@probepilot/testkit/trpc-error";
import { rollupPass } from "../../../src/workers/rollup-worker.ts";

const S = 1000;
const MIN = 60 * S;
const HOUR = 60 * MIN;
/** Base of the data: an hour boundary 3 h ago (inside the raw retention and the ingest window). */
const T0 = Math.floor((Date.now() - 3 * HOUR) / HOUR) * HOUR;
/** Base of the rollup-tier data, an hour later, so that tier tests do not touch the T0 data. */
const T1 = T0 + HOUR;

let h: Harness;
let tenantId: string;
let a0: EnrolledAgent, a1: EnrolledAgent, a2: EnrolledAgent;
let other: TestTenant;
let otherAgent: EnrolledAgent;
/**
 * Holds the rollup worker's advisory lock so its passes skip: the tier tests set
 * `rollup_state` and the rollup tables by hand, and the raw tests need the tier
 * to stay empty. The last test releases it and runs a real pass.
 */
let rollupLock: postgres.ReservedSql | null = null;

let seq = 0;
async function ingest(tenant: string, agentId: string, series: MetricSeries[]): Promise<void> {
  const batch: TelemetryBatch = { v: 1, tenantId: tenant, agentId, probe: "test", probeVersion: "builtin", seq: seq++, sentAt: Date.now(), series, histograms: [], events: [], profiles: [] };
  await h.cp.nc.jetstream().publish(telemetrySubject(tenant, agentId, "test"), JSON.stringify(batch));
}
/** Points at `base + sec[i] s` with `values[i]`. */
const pts = (base: number, secs: number[], values: number[]): [number, number][] => secs.map((s, i) => [base + s * S, values[i]!]);
const every10s = (n: number) => Array.from({ length: n }, (_, i) => i * 10);

beforeAll(async () => {
  h = await startHarness();
  rollupLock = await h.cp.db.sql.reserve();
  await rollupLock`select pg_advisory_lock(hashtext('probepilot:rollup'))`;

  const { token } = await h.client().enrollTokens.create.mutate({});
  const enrolled = await enrollAgents(h.cp.url, token, 3, {
    prefix: "tq",
    hello: (i) => ({ userLabels: ([{ env: "prod", region: "eu", mode: "agent-mode" }, { env: "prod", region: "us" }, { env: "staging", region: "eu" }] as Record<string, string>[])[i]! }),
  });
  tenantId = enrolled.tenantId;
  [a0, a1, a2] = enrolled.agents as [EnrolledAgent, EnrolledAgent, EnrolledAgent];
  other = await createTenant(h, "telemetry-other");
  const otherEnroll = await other.client.enrollTokens.create.mutate({});
  otherAgent = (await enrollAgents(h.cp.url, otherEnroll.token, 1, { prefix: "other", hello: () => ({ userLabels: { env: "prod" } }) })).agents[0]!;

  const cpu = (labels: Record<string, string>, secs: number[], values: number[]): MetricSeries => ({ metric: "cpu_util", kind: "gauge", unit: "ratio", labels, points: pts(T0, secs, values) });
  await ingest(tenantId, a0.agentId, [
    cpu({ mode: "user" }, every10s(6), [1, 3, 5, 7, 9, 11]),
    cpu({ mode: "system" }, every10s(6), [2, 2, 2, 2, 2, 2]),
    { metric: "load1", kind: "gauge", labels: {}, points: pts(T0, [0], [1]) },
    { metric: "tier_gauge", kind: "gauge", labels: {}, points: pts(T1, every10s(30), Array(30).fill(1)) },
    { metric: "tier_counter", kind: "counter", labels: {}, points: pts(T1, every10s(30), every10s(30).map((t) => 10 * t)) },
  ]);
  await ingest(tenantId, a1.agentId, [
    cpu({ mode: "user" }, every10s(6), [10, 10, 20, 20, 30, 30]),
    { metric: "load1", kind: "gauge", labels: {}, points: pts(T0, [0], [2]) },
    // A counter with a reset (300 → 50) at 30 s.
    { metric: "net_bytes", kind: "counter", unit: "bytes", labels: { dev: "eth0" }, points: pts(T0, every10s(9), [100, 200, 300, 50, 150, 250, 350, 450, 550]) },
  ]);
  await ingest(tenantId, a2.agentId, [
    // Nothing in [20 s, 40 s); three samples in the first 20 s.
    cpu({ mode: "user" }, [0, 5, 10, 40, 50], [100, 130, 100, 100, 100]),
    { metric: "load1", kind: "gauge", labels: {}, points: pts(T0, [0], [4]) },
    { metric: "net_bytes", kind: "counter", unit: "bytes", labels: { dev: "eth0" }, points: pts(T0, every10s(6), [0, 20, 40, 60, 80, 100]) },
  ]);
  await ingest(other.tenantId, otherAgent.agentId, [cpu({ mode: "user" }, every10s(6), Array(6).fill(999)), { metric: "other_only", kind: "gauge", labels: {}, points: pts(T0, [0], [1]) }]);
  const expected = 6 + 6 + 1 + 30 + 30 + (6 + 1 + 9) + (5 + 1 + 6) + (6 + 1);
  await eventually(async () => expect(Number((await h.cp.db.sql`select count(*)::int as n from samples`)[0]!.n)).toBe(expected), { timeoutMs: 20_000 });
});

afterAll(async () => {
  if (rollupLock) {
    await rollupLock`select pg_advisory_unlock(hashtext('probepilot:rollup'))`.catch(() => {});
    rollupLock.release();
  }
  await h?.stop();
});

const api = () => h.client();
const range = (input: Parameters<ReturnType<Harness["client"]>["telemetry"]["range"]["query"]>[0]) => api().telemetry.range.query(input);
/** The points of a 3-bucket query at 20 s from T0, as [offset s, value]. */
const at = (...values: (number | null)[]) => values.map((v, i) => [T0 + i * 20 * S, v]);
const base20 = { metric: "cpu_util", from: T0, to: T0 + 60 * S, stepMs: 20 * S } as const;

describe("telemetry.range: aggregations per step bucket and group", () => {
  it.each([
    ["avg", at(6, 13, 20), at(110, null, 100)],
    ["min", at(1, 5, 9), at(100, null, 100)],
    ["max", at(10, 20, 30), at(130, null, 100)],
    ["sum", at(12, 26, 40), at(110, null, 100)],
    ["count", at(4, 4, 4), at(3, null, 2)],
  ] as const)("%s by an agent label (env), series selected by a series label", async (agg, prod, staging) => {
    const r = await range({ ...base20, agg, seriesSelector: "mode=user", by: ["env"] });
    expect(r).toEqual({
      tier: "raw",
      stepMs: 20 * S,
      rawFrom: T0,
      series: [
        { labels: { env: "prod" }, points: prod },
        { labels: { env: "staging" }, points: staging },
      ],
    });
  });

  it("avg is the mean of the series' means: a series sampling faster does not weigh more", async () => {
    // region=eu: a0 user (b0: 1,3 → 2) and a2 user (b0: 100,130,100 → 110). Sample-weighted would be 66.8.
    const r = await range({ ...base20, agg: "avg", agentSelector: "region=eu", seriesSelector: "mode=user" });
    expect(r.series).toEqual([{ labels: {}, points: at(56, 6, 55) }]);
  });

  it("groups by a series label, and the series label wins over an agent label of the same key", async () => {
    // a0 carries the agent label mode=agent-mode; its series' own mode=user/system wins.
    const r = await range({ ...base20, agg: "avg", agentSelector: "env=prod", by: ["mode"] });
    expect(r.series).toEqual([
      { labels: { mode: "system" }, points: at(2, 2, 2) },
      { labels: { mode: "user" }, points: at(6, 13, 20) },
    ]);
    // load1 has no series labels: the agent label is used where there is one, else the key is absent.
    const load = await range({ ...base20, metric: "load1", agg: "avg", by: ["mode"] });
    expect(load.series).toEqual([
      { labels: { mode: "agent-mode" }, points: at(1, null, null) },
      { labels: {}, points: at(3, null, null) },
    ]);
  });

  it("groups by several keys, mixing series and agent labels", async () => {
    const r = await range({ ...base20, agg: "max", by: ["region", "mode"] });
    expect(r.series).toEqual([
      { labels: { region: "eu", mode: "system" }, points: at(2, 2, 2) },
      { labels: { region: "eu", mode: "user" }, points: at(130, 7, 100) },
      { labels: { region: "us", mode: "user" }, points: at(10, 20, 30) },
    ]);
  });

  it("agent selectors support the full syntax; an unmatched selector returns no series", async () => {
    const r = await range({ ...base20, agg: "sum", agentSelector: "region in (us),env!=staging" });
    expect(r.series).toEqual([{ labels: {}, points: at(10, 20, 30) }]);
    expect((await range({ ...base20, agg: "sum", agentSelector: "env=nowhere" })).series).toEqual([]);
    expect((await range({ ...base20, agg: "sum", seriesSelector: "!mode" })).series).toEqual([]);
    expect((await range({ ...base20, metric: "no_such_metric", agg: "sum" })).series).toEqual([]);
  });

  it("a range with no samples returns no series; a group with gaps has null buckets", async () => {
    expect((await range({ ...base20, from: T0 - HOUR, to: T0 - HOUR + MIN, agg: "avg" })).series).toEqual([]);
    const r = await range({ ...base20, from: T0 - 20 * S, to: T0 + 80 * S, agg: "avg", agentSelector: "env=staging" });
    expect(r.series[0]!.points).toEqual([
      [T0 - 20 * S, null],
      [T0, 110],
      [T0 + 20 * S, null],
      [T0 + 40 * S, 100],
      [T0 + 60 * S, null],
    ]);
  });
});

describe("telemetry.range: step alignment", () => {
  it("buckets start at multiples of the step: from is rounded down, to is exclusive", async () => {
    const r = await range({ metric: "cpu_util", agentSelector: "region=us", from: T0 + 5 * S, to: T0 + 45 * S, stepMs: 20 * S, agg: "avg" });
    expect(r.series[0]!.points).toEqual(at(10, 20, 30));
    expect(r.rawFrom).toBe(T0);
    // to is exclusive: the sample at 40 s is left out of [.., 40 s).
    const cut = await range({ metric: "cpu_util", agentSelector: "region=us", from: T0, to: T0 + 40 * S, stepMs: 20 * S, agg: "count" });
    expect(cut.series[0]!.points).toEqual([
      [T0, 2],
      [T0 + 20 * S, 2],
    ]);
  });

  it("a step that does not divide the hour still aligns to epoch multiples of itself", async () => {
    const step = 7 * S;
    const from = T0;
    const r = await range({ metric: "cpu_util", agentSelector: "region=us", from, to: T0 + 60 * S, stepMs: step, agg: "count" });
    const points = r.series[0]!.points;
    const first = from - (from % step);
    expect(points.map(([ts]) => ts)).toEqual(Array.from({ length: Math.ceil((T0 + 60 * S - first) / step) }, (_, i) => first + i * step));
    // Every sample of [first, to) is counted exactly once: 6 samples at 0..50 s (first ≤ T0).
    expect(first).toBeLessThanOrEqual(T0);
    expect(points.reduce((n, [, v]) => n + (v ?? 0), 0)).toBe(6);
    for (const [ts, v] of points) if (v !== null) expect([0, 10, 20, 30, 40, 50].filter((s) => T0 + s * S >= ts && T0 + s * S < ts + step).length).toBe(v);
  });
});

describe("telemetry.range: rate", () => {
  it("per-second increase per series, summed across the group, across a counter reset", async () => {
    // a1: +100 per 10 s, reset 300 → 50 at 30 s (counted as +50): b0 100/10 s, b1 150/20 s, b2 200/20 s.
    // a2: +20 per 10 s. The sample at T0 has no previous one: it adds nothing.
    const base = { metric: "net_bytes", from: T0, to: T0 + 60 * S, stepMs: 20 * S, agg: "rate" } as const;
    expect((await range({ ...base, by: ["env"] })).series).toEqual([
      { labels: { env: "prod" }, points: at(10, 7.5, 10) },
      { labels: { env: "staging" }, points: at(2, 2, 2) },
    ]);
    expect((await range(base)).series).toEqual([{ labels: {}, points: at(12, 9.5, 12) }]);
    expect((await range({ ...base, by: ["dev"] })).series).toEqual([{ labels: { dev: "eth0" }, points: at(12, 9.5, 12) }]);
  });

  it("finds the previous sample before the range (lookback)", async () => {
    // From 20 s: the sample at 20 s pairs with the one at 10 s, outside the range.
    const r = await range({ metric: "net_bytes", agentSelector: "region=us", from: T0 + 20 * S, to: T0 + 60 * S, stepMs: 20 * S, agg: "rate" });
    expect(r.series[0]!.points).toEqual([
      [T0 + 20 * S, 7.5],
      [T0 + 40 * S, 10],
    ]);
  });

  it("a step finer than the sample interval gives the true rate, not a spike", async () => {
    const r = await range({ metric: "net_bytes", agentSelector: "region=us", from: T0, to: T0 + 30 * S, stepMs: 5 * S, agg: "rate" });
    expect(r.series[0]!.points.map(([, v]) => v)).toEqual([null, null, 10, null, 10, null]);
  });
});

describe("telemetry.range: tenant isolation", () => {
  it("a tenant sees only its own series, with or without selectors", async () => {
    const mine = await range({ ...base20, agg: "max" });
    expect(mine.series).toEqual([{ labels: {}, points: at(130, 20, 100) }]);
    const theirs = await other.client.telemetry.range.query({ ...base20, agg: "max", by: ["env"] });
    expect(theirs.series).toEqual([{ labels: { env: "prod" }, points: at(999, 999, 999) }]);
    const theirCount = await other.client.telemetry.range.query({ ...base20, agg: "count", agentSelector: "env" });
    expect(theirCount.series).toEqual([{ labels: {}, points: at(2, 2, 2) }]);
    expect((await range({ ...base20, metric: "other_only", agg: "count" })).series).toEqual([]);
  });

  it("telemetry.metrics lists only the caller's tenant", async () => {
    expect((await other.client.telemetry.metrics.query()).map((m) => m.metric)).toEqual(["cpu_util", "other_only"]);
  });
});

describe("telemetry.range: limits and input errors", () => {
  it("too many points per series: rejected, naming the smallest step that fits", async () => {
    const err = await trpcError(range({ metric: "cpu_util", from: T0, to: T0 + HOUR, stepMs: 100, agg: "avg" }));
    expect(err.data?.httpStatus).toBe(400);
    expect(err.message).toBe("36000 points per series (range 3600000 ms at step 100 ms); the limit is 11000: use a step of at least 328 ms or a shorter range");
    // The largest allowed: 11,000 points.
    await expect(range({ metric: "cpu_util", from: T0, to: T0 + 11_000 * 100, stepMs: 100, agg: "avg" })).resolves.toMatchObject({ tier: "raw" });
  });

  it("too many series: rejected before any sample is read, saying what to change", async () => {
    const input = { ...base20, agg: "avg" as const, by: ["probepilot.io/hostname"] };
    expect((await range(input)).series.map((s) => s.labels["probepilot.io/hostname"])).toEqual(["tq-0", "tq-1", "tq-2"]);
    const err = await trpcError(range({ ...input, limitSeries: 2 }));
    expect(err.data?.httpStatus).toBe(400);
    expect(err.message).toBe('"cpu_util" gives 3 series grouped by probepilot.io/hostname; the limit is 2: narrow agentSelector or seriesSelector, group by fewer labels, or raise limitSeries (at most 500)');
    const tooHigh = await trpcError(range({ ...input, limitSeries: 501 }));
    expect(tooHigh.message).toBe("invalid input: limitSeries: limitSeries must be at most 500");
  });

  it.each([
    [{ agg: "median" }, /^invalid input: agg: agg must be one of avg, min, max, sum, count, rate$/],
    [{ metric: "cpu util" }, /^invalid input: metric: metric names follow Prometheus rules/],
    [{ to: T0 }, /^invalid input: to: to must be after from$/],
    [{ stepMs: 0 }, /^invalid input: stepMs: stepMs must be at least 1 ms$/],
    [{ stepMs: 1.5 }, /^invalid input: stepMs: stepMs must be a whole number of milliseconds$/],
    [{ from: -1 }, /^invalid input: from: from must be Unix milliseconds/],
    [{ by: ["Bad Key"] }, /^invalid input: by\.0: label key "Bad Key"/],
    [{ agentSelector: "env in prod" }, /^invalid input: agentSelector: .*position 7: expected "\(" after "in"/],
    [{ seriesSelector: "mode=" + "x".repeat(70) }, /^invalid input: seriesSelector: /],
  ])("rejects %j with a message", async (patch, message) => {
    const err = await trpcError(range({ ...base20, agg: "avg", ...(patch as object) } as Parameters<typeof range>[0]));
    expect(err.data?.httpStatus).toBe(400);
    expect(err.message).toMatch(message);
  });
});

describe("telemetry.metrics", () => {
  it("the catalog: kind, unit, label keys, series and agents per metric", async () => {
    const all = await api().telemetry.metrics.query();
    expect(all).toEqual([
      { metric: "cpu_util", kind: "gauge", unit: "ratio", labelKeys: ["mode"], series: 4, agents: 3 },
      { metric: "load1", kind: "gauge", unit: null, labelKeys: [], series: 3, agents: 3 },
      { metric: "net_bytes", kind: "counter", unit: "bytes", labelKeys: ["dev"], series: 2, agents: 2 },
      { metric: "tier_counter", kind: "counter", unit: null, labelKeys: [], series: 1, agents: 1 },
      { metric: "tier_gauge", kind: "gauge", unit: null, labelKeys: [], series: 1, agents: 1 },
    ]);
  });

  it("filters by agent selector and name prefix", async () => {
    const staging = await api().telemetry.metrics.query({ agentSelector: "env=staging" });
    expect(staging.map((m) => [m.metric, m.series])).toEqual([
      ["cpu_util", 1],
      ["load1", 1],
      ["net_bytes", 1],
    ]);
    expect((await api().telemetry.metrics.query({ prefix: "tier_" })).map((m) => m.metric)).toEqual(["tier_counter", "tier_gauge"]);
    expect(await api().telemetry.metrics.query({ prefix: "zzz" })).toEqual([]);
    const bad = await trpcError(api().telemetry.metrics.query({ agentSelector: "env in" }));
    expect(bad.data?.httpStatus).toBe(400);
  });
});

describe("telemetry.range: rollup tiers", () => {
  const sql = () => h.cp.db.sql;
  const seriesId = async (metric: string) => Number((await sql()`select id from series where tenant_id = ${tenantId} and metric = ${metric}`)[0]!.id);
  const setWatermark = (tier: string, watermark: number) =>
    sql()`insert into rollup_state (tier, watermark) values (${tier}, ${watermark}) on conflict (tier) do update set watermark = excluded.watermark`;
  const rollupRow = (table: "samples_1m" | "samples_1h", id: number, bucket: number, r: { count: number; sum: number; min: number; max: number; last: number }) =>
    sql()`insert into ${sql()(table)} (series_id, bucket, count, sum, min, max, last) values (${id}, ${bucket}, ${r.count}, ${r.sum}, ${r.min}, ${r.max}, ${r.last})`;
  const gauge = { metric: "tier_gauge", from: T1, to: T1 + 5 * MIN } as const;

  beforeAll(async () => {
    // The ingester marked the old minutes it stored as waiting for recomputation; start clean.
    await sql()`delete from rollup_dirty`;
    const g = await seriesId("tier_gauge");
    // The 1m tier says 1000 where raw says 1, so each point shows where it came from.
    for (let m = 0; m < 5; m++) await rollupRow("samples_1m", g, T1 + m * MIN, { count: 6, sum: 6000, min: 1000, max: 1000, last: 1000 });
    const c = await seriesId("tier_counter");
    // The 1m tier's counter rises 20/s; raw rises 10/s.
    for (let m = 0; m < 3; m++) await rollupRow("samples_1m", c, T1 + m * MIN, { count: 6, sum: 0, min: 0, max: 0, last: 20 * (60 * m + 50) });
    await rollupRow("samples_1h", g, T1, { count: 360, sum: 1800, min: 5, max: 5, last: 5 });
  });
  afterAll(async () => {
    await sql()`delete from rollup_state`;
    await sql()`delete from rollup_dirty`;
    await sql()`delete from samples_1m`;
    await sql()`delete from samples_1h`;
  });

  it("without a watermark the 1m tier is empty: the query reads raw", async () => {
    await sql()`delete from rollup_state`;
    expect(await range({ ...gauge, stepMs: MIN, agg: "avg" })).toEqual({ tier: "raw", stepMs: MIN, rawFrom: T1, series: [{ labels: {}, points: [0, 1, 2, 3, 4].map((m) => [T1 + m * MIN, 1]) }] });
  });

  it("the tier answers before its watermark and raw after it, merged", async () => {
    await setWatermark("1m", T1 + 3 * MIN);
    const r = await range({ ...gauge, stepMs: MIN, agg: "avg" });
    expect(r.tier).toBe("1m");
    expect(r.rawFrom).toBe(T1 + 3 * MIN);
    expect(r.series[0]!.points.map(([, v]) => v)).toEqual([1000, 1000, 1000, 1, 1]);
    expect((await range({ ...gauge, stepMs: MIN, agg: "count" })).series[0]!.points.map(([, v]) => v)).toEqual([6, 6, 6, 6, 6]);
    expect((await range({ ...gauge, stepMs: MIN, agg: "max" })).series[0]!.points.map(([, v]) => v)).toEqual([1000, 1000, 1000, 1, 1]);
  });

  it("a step that is a multiple of the tier splits at the watermark rounded down to the step", async () => {
    await setWatermark("1m", T1 + 3 * MIN);
    const r = await range({ ...gauge, stepMs: 2 * MIN, agg: "count" });
    expect(r).toMatchObject({ tier: "1m", rawFrom: T1 + 2 * MIN });
    expect(r.series[0]!.points).toEqual([
      [T1, 12],
      [T1 + 2 * MIN, 12],
      [T1 + 4 * MIN, 6],
    ]);
    expect((await range({ ...gauge, stepMs: 2 * MIN, agg: "avg" })).series[0]!.points.map(([, v]) => v)).toEqual([1000, 1, 1]);
  });

  it("minutes waiting for recomputation (late data) are read from raw", async () => {
    await setWatermark("1m", T1 + 3 * MIN);
    await sql()`insert into rollup_dirty (bucket) values (${T1 + MIN})`;
    try {
      const r = await range({ ...gauge, stepMs: MIN, agg: "avg" });
      expect(r).toMatchObject({ tier: "1m", rawFrom: T1 + MIN });
      expect(r.series[0]!.points.map(([, v]) => v)).toEqual([1000, 1, 1, 1, 1]);
    } finally {
      await sql()`delete from rollup_dirty`;
    }
  });

  it("steps below 60 s or not a whole number of minutes read raw; so does a range after the watermark", async () => {
    await setWatermark("1m", T1 + 3 * MIN);
    for (const stepMs of [30 * S, 90 * S]) {
      const r = await range({ ...gauge, stepMs, agg: "avg" });
      expect(r.tier, `step ${stepMs}`).toBe("raw");
      expect(new Set(r.series[0]!.points.map(([, v]) => v))).toEqual(new Set([1]));
    }
    await setWatermark("1m", T1 - HOUR);
    expect(await range({ ...gauge, stepMs: MIN, agg: "avg" })).toMatchObject({ tier: "raw", rawFrom: T1 });
  });

  it("the 1h tier for hour steps, with raw after its watermark", async () => {
    await setWatermark("1h", T1 + HOUR);
    const r = await range({ metric: "tier_gauge", from: T1, to: T1 + 2 * HOUR, stepMs: HOUR, agg: "avg" });
    expect(r).toEqual({
      tier: "1h",
      stepMs: HOUR,
      rawFrom: T1 + HOUR,
      series: [
        {
          labels: {},
          points: [
            [T1, 5],
            [T1 + HOUR, null],
          ],
        },
      ],
    });
    await setWatermark("1h", T1);
    const before = await range({ metric: "tier_gauge", from: T1 - HOUR, to: T1 + HOUR, stepMs: HOUR, agg: "avg" });
    expect(before).toMatchObject({ tier: "1h", rawFrom: T1 });
    expect(before.series[0]!.points).toEqual([
      [T1 - HOUR, null],
      [T1, 1],
    ]);
  });

  it("rate takes deltas within the tier and within raw (with its own lookback), then merges", async () => {
    await setWatermark("1m", T1 + 3 * MIN);
    const r = await range({ metric: "tier_counter", from: T1 + MIN, to: T1 + 5 * MIN, stepMs: MIN, agg: "rate" });
    expect(r).toMatchObject({ tier: "1m", rawFrom: T1 + 3 * MIN });
    // Tier: (2200 - 1000) / 60 s and (3400 - 2200) / 60 s; raw: 10/s.
    expect(r.series[0]!.points.map(([, v]) => v)).toEqual([20, 20, 10, 10]);
  });
});

describe("telemetry.range against the real rollup worker", () => {
  it("a step served by the 1m tier after a rollup pass equals the same query from raw", async () => {
    await h.cp.db.sql`delete from rollup_state`;
    const queries = (["avg", "min", "max", "sum", "count"] as const).map((agg) => ({ metric: "cpu_util", from: T0 - MIN, to: T0 + 2 * MIN, stepMs: MIN, agg, by: ["env"] }));
    const fromRaw = await Promise.all(queries.map((q) => range(q)));
    for (const r of fromRaw) expect(r.tier).toBe("raw");
    expect(fromRaw[0]!.series).toEqual([
      { labels: { env: "prod" }, points: [[T0 - MIN, null], [T0, (6 + 2 + 20) / 3], [T0 + MIN, null]] },
      { labels: { env: "staging" }, points: [[T0 - MIN, null], [T0, 106], [T0 + MIN, null]] },
    ]);

    await rollupLock!`select pg_advisory_unlock(hashtext('probepilot:rollup'))`;
    rollupLock!.release();
    rollupLock = null;
    await eventually(async () => {
      await rollupPass(h.cp.db.sql);
      const [state] = await h.cp.db.sql`select watermark::float8 as w from rollup_state where tier = '1m'`;
      expect(state?.w).toBeGreaterThanOrEqual(T0 + 2 * MIN);
    });
    const fromTier = await Promise.all(queries.map((q) => range(q)));
    for (const [i, r] of fromTier.entries()) {
      expect(r.tier).toBe("1m");
      expect(r.series, queries[i]!.agg).toEqual(fromRaw[i]!.series);
    }
  });
});
