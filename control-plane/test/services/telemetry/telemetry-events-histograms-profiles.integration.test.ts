import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { telemetrySubject, type Histogram, type ProfileStacks, type TelemetryBatch, type TelemetryEvent } from "@probepilot/shared";
import { startHarness, type Harness } from "@probepilot/testkit/control-plane-harness";
import { enrollAgents, type EnrolledAgent } from "@probepilot/testkit/fake-hello";
import { createTenant, type TestTenant } from "@probepilot/testkit/tenants";
import { eventually } from "@probepilot/testkit/poll";
import { trpcError } from "@probepilot/testkit/trpc-error";

const S = 1000;
const MIN = 60 * S;
const HOUR = 60 * MIN;
/** Base of the data: an hour boundary about 2 h ago (inside the raw retention and the ingest window). */
const T0 = Math.floor((Date.now() - 2 * HOUR) / HOUR) * HOUR;

let h: Harness;
let tenantId: string;
/** a0: env=prod,region=eu; a1: env=prod,region=us; a2: env=staging,region=eu. */
let a0: EnrolledAgent, a1: EnrolledAgent, a2: EnrolledAgent;
let other: TestTenant;
let otherAgent: EnrolledAgent;

let seq = 0;
/**
 * Publish one batch to JetStream as an agent does and wait until the in-process
 * ingester has committed it (its ledger row), so that ids follow publish order.
 */
async function ingest(tenant: string, agentId: string, probe: string, parts: { histograms?: Histogram[]; events?: TelemetryEvent[]; profiles?: ProfileStacks[] }): Promise<void> {
  const batch: TelemetryBatch = { v: 1, tenantId: tenant, agentId, probe, probeVersion: "builtin", seq: seq++, sentAt: Date.now(), series: [], histograms: [], events: [], profiles: [], ...parts };
  await h.cp.nc.jetstream().publish(telemetrySubject(tenant, agentId, probe), JSON.stringify(batch));
  await eventually(async () => expect((await h.cp.db.sql`select 1 from ingest_ledger where agent_id = ${agentId} and probe = ${probe} and seq = ${batch.seq}`).length).toBe(1), { timeoutMs: 20_000 });
}

/** A runq histogram snapshot at `T0 + sec`: `buckets[i]` counts values in [2^i, 2^(i+1)). */
const runq = (cpu: string, sec: number, buckets: number[], sum: number): Histogram => ({
  metric: "runq_latency_us",
  unit: "us",
  labels: { cpu },
  at: T0 + sec * S,
  buckets,
  sum,
  count: buckets.reduce((a, b) => a + b, 0),
});
const ev = (name: string, sec: number, attrs: TelemetryEvent["attrs"]): TelemetryEvent => ({ name, at: T0 + sec * S, attrs });
const prof = (sec: number, pid: number, comm: string, stacks: [string, number][]): ProfileStacks => ({ at: T0 + sec * S, pid, comm, stacks });

beforeAll(async () => {
  h = await startHarness();
  const { token } = await h.client().enrollTokens.create.mutate({});
  const enrolled = await enrollAgents(h.cp.url, token, 3, {
    prefix: "ehp",
    hello: (i) => ({ userLabels: ([{ env: "prod", region: "eu" }, { env: "prod", region: "us" }, { env: "staging", region: "eu" }] as Record<string, string>[])[i]! }),
  });
  tenantId = enrolled.tenantId;
  [a0, a1, a2] = enrolled.agents as [EnrolledAgent, EnrolledAgent, EnrolledAgent];
  other = await createTenant(h, "ehp-other");
  const otherEnroll = await other.client.enrollTokens.create.mutate({});
  otherAgent = (await enrollAgents(h.cp.url, otherEnroll.token, 1, { prefix: "ehp-other", hello: () => ({ userLabels: { env: "prod" } }) })).agents[0]!;

  // Histograms: per-interval deltas, several batches per series.
  await ingest(tenantId, a0.agentId, "runqueue_latency", { histograms: [runq("0", 1, [0, 4, 4, 2], 60)] });
  await ingest(tenantId, a1.agentId, "runqueue_latency", { histograms: [runq("0", 5, [0, 0, 0, 0, 10], 200)] });
  await ingest(tenantId, a0.agentId, "runqueue_latency", { histograms: [runq("0", 20, [1], 1.5)] });
  await ingest(tenantId, a1.agentId, "runqueue_latency", { histograms: [runq("1", 21, [0, 0, 2], 11)] });
  await ingest(tenantId, a2.agentId, "runqueue_latency", { histograms: [runq("0", 22, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 100], 150_000)] });
  await ingest(tenantId, a0.agentId, "runqueue_latency", { histograms: [runq("0", 25, [0, 1], 3)] });
  await ingest(other.tenantId, otherAgent.agentId, "runqueue_latency", { histograms: [runq("0", 1, [...Array(20).fill(0), 7], 7 << 20)] });

  // Events: e2 and e3 share a millisecond (and a batch); e5 shares it from another agent, published later.
  await ingest(tenantId, a0.agentId, "process", {
    events: [
      ev("process_exec", 1, { comm: "bash", pid: 100, root: true }),
      ev("process_exec", 2, { comm: "curl", pid: 101, root: false }),
      ev("process_exec", 2, { comm: "bash", pid: 102, root: false }),
      ev("process_exit", 3, { comm: "bash", pid: 100, code: 0 }),
    ],
  });
  await ingest(tenantId, a1.agentId, "process", { events: [ev("process_exec", 2, { comm: "bash", pid: "200", parent: null })] });
  await ingest(tenantId, a1.agentId, "oom_kills", { events: [ev("oom_kill", 4, { comm: "java", pid: 300 })] });
  await ingest(tenantId, a2.agentId, "process", { events: [ev("process_exec", 5, { comm: "bash", pid: 400 })] });
  await ingest(other.tenantId, otherAgent.agentId, "process", { events: [ev("process_exec", 2, { comm: "bash", pid: 100 })] });
  // 25 ticks, four per second from 60 s: ids and timestamps both grow with i.
  await ingest(tenantId, a0.agentId, "ticker", { events: Array.from({ length: 25 }, (_, i) => ev("tick", 60 + Math.floor(i / 4), { i })) });

  // Profiles: one stack in several batches, agents and processes.
  await ingest(tenantId, a0.agentId, "cpu_profile", {
    profiles: [prof(1, 10, "nginx", [["main;serve;read", 30], ["main;serve;write", 10]]), prof(1, 11, "bash", [["main;readline", 5]])],
  });
  await ingest(tenantId, a1.agentId, "cpu_profile", { profiles: [prof(2, 10, "nginx", [["main;serve;read", 7], ["main;serve;write", 10]])] });
  await ingest(tenantId, a2.agentId, "cpu_profile", { profiles: [prof(3, 50, "java", [["jvm;gc", 100]]), prof(3, 51, "java", [["jvm;b", 3], ["jvm;a", 3]])] });
  await ingest(tenantId, a0.agentId, "cpu_profile", { profiles: [prof(5, 10, "nginx", [["main;serve;read", 20], ["main;idle", 1]])] });
  await ingest(other.tenantId, otherAgent.agentId, "cpu_profile", { profiles: [prof(1, 10, "nginx", [["main;serve;read", 1000]])] });
  // Half an hour later: 6,000 distinct stacks of one sample and one hot stack.
  await ingest(tenantId, a2.agentId, "cpu_profile", {
    profiles: [prof(30 * 60, 77, "many", [["hot;path", 50], ...Array.from({ length: 6000 }, (_, i): [string, number] => [`s;${String(i).padStart(4, "0")}`, 1])])],
  });
}, 120_000);

afterAll(async () => {
  await h?.stop();
});

const api = () => h.client();

describe("telemetry.histogram", () => {
  type HistogramInput = Parameters<ReturnType<Harness["client"]>["telemetry"]["histogram"]["query"]>[0];
  const histogram = (input: Partial<HistogramInput>) => api().telemetry.histogram.query({ metric: "runq_latency_us", from: T0, to: T0 + 30 * S, stepMs: 10 * S, ...input });
  const ts3 = [T0, T0 + 10 * S, T0 + 20 * S];

  it("merges log2 buckets across series and agents per step; exact percentiles by linear interpolation in [2^i, 2^(i+1))", async () => {
    // Step 0 (prod): a0 cpu0 [0,4,4,2] + a1 cpu0 bucket 4 ×10 → c = [0,4,4,2,10], N = 20.
    //   p0 = 2 (bottom of bucket 1); p25: rank 5 → bucket 2, 1/4 in → 4 + 4·0.25 = 5; p50: rank 10 → top of bucket 3 = 16;
    //   p75: rank 15 → bucket 4, 5/10 in → 24; p100 = 32 (top of bucket 4).
    // Step 1: nothing. Step 2 (prod): a0 cpu0 [1] and [0,1] (two deltas of one series), a1 cpu1 [0,0,2] → c = [1,1,2], N = 4.
    //   p0 = 1; p25: rank 1 → top of bucket 0 = 2; p50: rank 2 → top of bucket 1 = 4; p75: rank 3 → 4 + 4·0.5 = 6; p100 = 8.
    const r = await histogram({ agentSelector: "env=prod", percentiles: [0, 25, 50, 75, 100] });
    expect(r).toEqual({
      stepMs: 10 * S,
      timestamps: ts3,
      percentiles: [
        { p: 0, values: [2, null, 1] },
        { p: 25, values: [5, null, 2] },
        { p: 50, values: [16, null, 4] },
        { p: 75, values: [24, null, 6] },
        { p: 100, values: [32, null, 8] },
      ],
      count: [20, 0, 4],
      sum: [260, 0, 15.5],
      heatmap: [
        { bucket: 0, lower: 1, upper: 2, counts: [0, 0, 1] },
        { bucket: 1, lower: 2, upper: 4, counts: [4, 0, 1] },
        { bucket: 2, lower: 4, upper: 8, counts: [4, 0, 2] },
        { bucket: 3, lower: 8, upper: 16, counts: [2, 0, 0] },
        { bucket: 4, lower: 16, upper: 32, counts: [10, 0, 0] },
      ],
      seriesMatched: 3,
    });
  });

  it("defaults to p50, p90, p99", async () => {
    const r = await histogram({ agentSelector: "env=prod" });
    expect(r.percentiles.map((p) => p.p)).toEqual([50, 90, 99]);
    const [p50, p90, p99] = r.percentiles.map((p) => p.values);
    // Step 0: p90 rank 18 → 16 + 16·8/10; p99 rank 19.8 → 16 + 16·9.8/10. Step 2: p90 rank 3.6 → 4 + 4·1.6/2; p99 rank 3.96 → 4 + 4·1.96/2.
    expect(p50).toEqual([16, null, 4]);
    expect(p90![0]).toBeCloseTo(28.8, 10);
    expect(p90![2]).toBeCloseTo(7.2, 10);
    expect(p99![0]).toBeCloseTo(31.68, 10);
    expect(p99![2]).toBeCloseTo(7.92, 10);
    expect([p90![1], p99![1]]).toEqual([null, null]);
  });

  it("without selectors merges every series of the tenant; a series selector narrows them", async () => {
    const all = await histogram({ percentiles: [0, 100] });
    expect(all.seriesMatched).toBe(4);
    expect(all.count).toEqual([20, 0, 104]);
    expect(all.sum).toEqual([260, 0, 150_015.5]);
    expect(all.heatmap.map((row) => [row.bucket, row.counts])).toEqual([
      [0, [0, 0, 1]],
      [1, [4, 0, 1]],
      [2, [4, 0, 2]],
      [3, [2, 0, 0]],
      [4, [10, 0, 0]],
      [10, [0, 0, 100]],
    ]);
    expect(all.percentiles).toEqual([
      { p: 0, values: [2, null, 1] },
      { p: 100, values: [32, null, 2048] },
    ]);

    // cpu=1 is one series (a1): bucket 2 ×2 in step 2 → p50 rank 1 → 4 + 4·1/2 = 6.
    const cpu1 = await histogram({ seriesSelector: "cpu=1", percentiles: [0, 50, 100] });
    expect(cpu1.seriesMatched).toBe(1);
    expect(cpu1.percentiles).toEqual([
      { p: 0, values: [null, null, 4] },
      { p: 50, values: [null, null, 6] },
      { p: 100, values: [null, null, 8] },
    ]);
    expect(cpu1.heatmap).toEqual([{ bucket: 2, lower: 4, upper: 8, counts: [0, 0, 2] }]);

    const staging = await histogram({ agentSelector: "env=staging", seriesSelector: "cpu=0", percentiles: [50] });
    expect(staging.heatmap).toEqual([{ bucket: 10, lower: 1024, upper: 2048, counts: [0, 0, 100] }]);
    // Rank 50 of 100 in [1024, 2048): halfway.
    expect(staging.percentiles).toEqual([{ p: 50, values: [null, null, 1536] }]);
  });

  it("one step over the whole range merges every delta snapshot", async () => {
    // prod over [T0, T0+60 s): c = [1,5,6,2,10], N = 24. p25: rank 6 → top of bucket 1 = 4; p50: rank 12 → top of bucket 2 = 8;
    // p75: rank 18 → bucket 4, 4/10 in → 16 + 6.4.
    const r = await histogram({ agentSelector: "env=prod", to: T0 + MIN, stepMs: MIN, percentiles: [25, 50, 75] });
    expect(r.timestamps).toEqual([T0]);
    expect(r.count).toEqual([24]);
    expect(r.sum).toEqual([275.5]);
    expect(r.heatmap.map((row) => row.counts[0])).toEqual([1, 5, 6, 2, 10]);
    expect(r.percentiles.map((p) => p.values[0])).toEqual([4, 8, 16 + 6.4]);
  });

  it("aligns steps like telemetry.range: from is rounded down, to is exclusive", async () => {
    // [T0+5 s, T0+25 s) at 10 s: steps T0, T0+10 s, T0+20 s; the snapshot at +25 s is left out, the one at +1 s is in.
    const r = await histogram({ agentSelector: "env=prod", from: T0 + 5 * S, to: T0 + 25 * S });
    expect(r.timestamps).toEqual(ts3);
    expect(r.count).toEqual([20, 0, 3]);
  });

  it("an unknown metric or an empty range gives empty steps and no heatmap", async () => {
    const r = await histogram({ metric: "no_such_histogram" });
    expect(r).toMatchObject({ seriesMatched: 0, timestamps: ts3, count: [0, 0, 0], sum: [0, 0, 0], heatmap: [] });
    expect(r.percentiles.every((p) => p.values.every((v) => v === null))).toBe(true);
    const before = await histogram({ from: T0 - HOUR, to: T0 - HOUR + 30 * S });
    expect(before).toMatchObject({ seriesMatched: 4, count: [0, 0, 0], heatmap: [] });
  });

  it("a tenant sees only its own histograms", async () => {
    const theirs = await other.client.telemetry.histogram.query({ metric: "runq_latency_us", from: T0, to: T0 + 30 * S, stepMs: 10 * S, percentiles: [50] });
    expect(theirs).toMatchObject({
      seriesMatched: 1,
      count: [7, 0, 0],
      heatmap: [{ bucket: 20, lower: 2 ** 20, upper: 2 ** 21, counts: [7, 0, 0] }],
      percentiles: [{ p: 50, values: [2 ** 20 * 1.5, null, null] }],
    });
    expect((await histogram({})).heatmap.map((row) => row.bucket)).not.toContain(20);
  });

  it.each([
    [{ percentiles: [101] }, /^invalid input: percentiles\.0: percentiles are from 0 to 100/],
    [{ percentiles: [] }, /^invalid input: percentiles: ask for at least one percentile/],
    [{ percentiles: Array.from({ length: 11 }, (_, i) => i) }, /^invalid input: percentiles: ask for at most 10 percentiles \(11 given\)$/],
    [{ to: T0 }, /^invalid input: to: to must be after from$/],
    [{ stepMs: 0 }, /^invalid input: stepMs: stepMs must be at least 1 ms$/],
    [{ metric: "" }, /^invalid input: metric: metric must not be empty$/],
    [{ agentSelector: "env in prod" }, /^invalid input: agentSelector: .*expected "\(" after "in"/],
  ] as const)("rejects %j with a message naming the field", async (input, message) => {
    const err = await trpcError(histogram(input as Partial<HistogramInput>));
    expect(err.data?.httpStatus).toBe(400);
    expect(err.message).toMatch(message);
  });

  it("too many time buckets: rejected, naming the smallest step that fits", async () => {
    const err = await trpcError(histogram({ to: T0 + HOUR, stepMs: 100 }));
    expect(err.data?.httpStatus).toBe(400);
    expect(err.message).toBe("36000 time buckets (range 3600000 ms at step 100 ms); the limit is 11000: use a step of at least 328 ms or a shorter range");
  });
});

describe("telemetry.events", () => {
  type EventsInput = Parameters<ReturnType<Harness["client"]>["telemetry"]["events"]["query"]>[0];
  const events = (input: Partial<EventsInput>, client = api()) => client.telemetry.events.query({ from: T0, to: T0 + 10 * S, ...input });
  /** Each event as `name@sec:pid`. */
  const brief = (r: Awaited<ReturnType<typeof events>>) => r.items.map((e) => `${e.name}@${(e.ts - T0) / S}:${e.attrs.pid}`);

  it("newest first, ties in a millisecond broken by id (newest stored first); every field returned", async () => {
    const r = await events({});
    expect(brief(r)).toEqual(["process_exec@5:400", "oom_kill@4:300", "process_exit@3:100", "process_exec@2:200", "process_exec@2:102", "process_exec@2:101", "process_exec@1:100"]);
    expect(r.nextCursor).toBeNull();
    const ids = r.items.map((e) => e.id);
    expect(ids[3]! > ids[4]! && ids[4]! > ids[5]!).toBe(true);
    expect(r.items[1]).toEqual({ id: expect.any(Number), agentId: a1.agentId, probe: "oom_kills", name: "oom_kill", ts: T0 + 4 * S, attrs: { comm: "java", pid: 300 } });
    expect(r.items[3]!.attrs).toEqual({ comm: "bash", pid: "200", parent: null });
  });

  it("filters by name, probe, agent selector and time range (to exclusive)", async () => {
    expect(brief(await events({ name: "process_exec" }))).toEqual(["process_exec@5:400", "process_exec@2:200", "process_exec@2:102", "process_exec@2:101", "process_exec@1:100"]);
    expect(brief(await events({ probe: "oom_kills" }))).toEqual(["oom_kill@4:300"]);
    expect(brief(await events({ name: "process_exec", agentSelector: "env=prod" }))).toEqual(["process_exec@2:200", "process_exec@2:102", "process_exec@2:101", "process_exec@1:100"]);
    expect(brief(await events({ agentSelector: "region=us" }))).toEqual(["oom_kill@4:300", "process_exec@2:200"]);
    expect(brief(await events({ from: T0 + 2 * S, to: T0 + 4 * S }))).toEqual(["process_exit@3:100", "process_exec@2:200", "process_exec@2:102", "process_exec@2:101"]);
    expect(brief(await events({ name: "no_such_event" }))).toEqual([]);
    expect(brief(await events({ agentSelector: "env=nowhere" }))).toEqual([]);
  });

  it("filters by attribute equality, the JSON type included", async () => {
    expect(brief(await events({ attrs: { comm: "bash" } }))).toEqual(["process_exec@5:400", "process_exit@3:100", "process_exec@2:200", "process_exec@2:102", "process_exec@1:100"]);
    expect(brief(await events({ attrs: { comm: "bash", pid: 100 } }))).toEqual(["process_exit@3:100", "process_exec@1:100"]);
    expect(brief(await events({ attrs: { root: false } }))).toEqual(["process_exec@2:102", "process_exec@2:101"]);
    expect(brief(await events({ attrs: { parent: null } }))).toEqual(["process_exec@2:200"]);
    // "200" was sent as a string: the number 200 does not match it, and vice versa.
    expect(brief(await events({ attrs: { pid: 200 } }))).toEqual([]);
    expect(brief(await events({ attrs: { pid: "200" } }))).toEqual(["process_exec@2:200"]);
    expect(brief(await events({ attrs: { pid: "100" } }))).toEqual([]);
    expect(brief(await events({ name: "process_exit", attrs: { code: 0 } }))).toEqual(["process_exit@3:100"]);
  });

  it("a tenant sees only its own events", async () => {
    const theirs = await events({}, other.client);
    expect(theirs.items).toEqual([{ id: expect.any(Number), agentId: otherAgent.agentId, probe: "process", name: "process_exec", ts: T0 + 2 * S, attrs: { comm: "bash", pid: 100 } }]);
    expect((await events({ attrs: { comm: "bash", pid: 100 } })).items.map((e) => e.agentId)).toEqual([a0.agentId, a0.agentId]);
  });

  it("pages with a keyset cursor: no event skipped or repeated across tied timestamps, even as newer ones arrive", async () => {
    const range = { name: "tick", from: T0 + MIN, to: T0 + 2 * MIN };
    const whole = await events({ ...range, limit: 1000 });
    expect(whole.items.map((e) => e.attrs.i)).toEqual(Array.from({ length: 25 }, (_, k) => 24 - k));
    expect(whole.nextCursor).toBeNull();

    // Pages of 7 over ticks 4 to a second: every page boundary falls inside a millisecond.
    const pages: number[][] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await events({ ...range, limit: 7, cursor });
      pages.push(page.items.map((e) => e.attrs.i as number));
      if (pages.length === 1) {
        // A newer event arriving mid-walk sorts before the cursor: the walk goes on undisturbed.
        await ingest(tenantId, a0.agentId, "ticker", { events: [ev("tick", 90, { i: 99 })] });
      }
      if (page.nextCursor === null) break;
      cursor = page.nextCursor;
    }
    expect(pages.map((p) => p.length)).toEqual([7, 7, 7, 4]);
    expect(pages.flat()).toEqual(whole.items.map((e) => e.attrs.i));
    expect((await events({ ...range, limit: 1 })).items[0]!.attrs.i).toBe(99);
  });

  it("the last full page says so: nextCursor is null when nothing follows", async () => {
    const r = await events({ name: "process_exec", limit: 5 });
    expect(r.items).toHaveLength(5);
    expect(r.nextCursor).toBeNull();
    const first = await events({ name: "process_exec", limit: 4 });
    expect(first.nextCursor).not.toBeNull();
    const rest = await events({ name: "process_exec", limit: 4, cursor: first.nextCursor! });
    expect(brief(rest)).toEqual(["process_exec@1:100"]);
    expect(rest.nextCursor).toBeNull();
  });

  it.each([
    [{ limit: 1001 }, /^invalid input: limit: limit must be at most 1000$/],
    [{ limit: 0 }, /^invalid input: limit: limit must be at least 1$/],
    [{ to: T0 }, /^invalid input: to: to must be after from$/],
    [{ attrs: { comm: { nested: true } } }, /^invalid input: attrs\.comm: attribute values are strings, finite numbers, booleans or null$/],
    [{ attrs: Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, i])) }, /^invalid input: attrs: filter on at most 20 attributes \(21 given\)$/],
    [{ agentSelector: "env in prod" }, /^invalid input: agentSelector: /],
    [{ cursor: "not-a-cursor" }, /^cursor "not-a-cursor" is not one telemetry\.events returned: pass the previous page's nextCursor, or none for the first page$/],
  ] as const)("rejects %j with a message saying what is wrong", async (input, message) => {
    const err = await trpcError(events(input as unknown as Partial<EventsInput>));
    expect(err.data?.httpStatus).toBe(400);
    expect(err.message).toMatch(message);
  });
});

describe("telemetry.profile", () => {
  type ProfileInput = Parameters<ReturnType<Harness["client"]>["telemetry"]["profile"]["query"]>[0];
  const profile = (input: Partial<ProfileInput>, client = api()) => client.telemetry.profile.query({ from: T0, to: T0 + 10 * S, ...input });
  const pairs = (r: Awaited<ReturnType<typeof profile>>) => r.stacks.map((s) => [s.stack, s.count]);

  it("merges one stack across batches, agents and processes; sorted by count, ties by stack", async () => {
    const r = await profile({});
    expect(pairs(r)).toEqual([
      ["jvm;gc", 100],
      ["main;serve;read", 57], // a0 30 + 20 (two batches), a1 7
      ["main;serve;write", 20],
      ["main;readline", 5],
      ["jvm;a", 3],
      ["jvm;b", 3],
      ["main;idle", 1],
    ]);
    expect(r).toMatchObject({ total: 189, distinct: 7, truncated: false });
  });

  it("filters by one agent, an agent selector, pid, comm and time range (to exclusive)", async () => {
    expect(pairs(await profile({ agentId: a0.agentId }))).toEqual([
      ["main;serve;read", 50],
      ["main;serve;write", 10],
      ["main;readline", 5],
      ["main;idle", 1],
    ]);
    expect(pairs(await profile({ agentSelector: "region=us" }))).toEqual([
      ["main;serve;write", 10],
      ["main;serve;read", 7],
    ]);
    expect(pairs(await profile({ agentSelector: "env=prod", comm: "nginx" }))).toEqual([
      ["main;serve;read", 57],
      ["main;serve;write", 20],
      ["main;idle", 1],
    ]);
    expect(pairs(await profile({ pid: 11 }))).toEqual([["main;readline", 5]]);
    expect(pairs(await profile({ agentId: a1.agentId, pid: 10 }))).toEqual([
      ["main;serve;write", 10],
      ["main;serve;read", 7],
    ]);
    expect(pairs(await profile({ comm: "java", pid: 51 }))).toEqual([
      ["jvm;a", 3],
      ["jvm;b", 3],
    ]);
    // a0's second batch is at +5 s: left out of [T0, T0+5 s).
    const early = await profile({ to: T0 + 5 * S });
    expect(pairs(early).slice(0, 3)).toEqual([
      ["jvm;gc", 100],
      ["main;serve;read", 37],
      ["main;serve;write", 20],
    ]);
    expect(early).toMatchObject({ total: 168, distinct: 6 });
    expect(await profile({ comm: "nobody" })).toEqual({ stacks: [], total: 0, distinct: 0, truncated: false });
  });

  it("past the limit, the rest is summed into a last (other) entry; counts still add up to the total", async () => {
    const r = await profile({ limit: 2 });
    expect(r).toEqual({
      stacks: [
        { stack: "jvm;gc", count: 100 },
        { stack: "main;serve;read", count: 57 },
        { stack: "(other)", count: 32 },
      ],
      total: 189,
      distinct: 7,
      truncated: true,
    });
    // The cut falls inside a tie: broken by the stack text.
    expect(pairs(await profile({ limit: 5 })).slice(4)).toEqual([
      ["jvm;a", 3],
      ["(other)", 4],
    ]);
  });

  it("keeps at most 5,000 stacks by default, whatever the range holds", async () => {
    const r = await profile({ from: T0 + 30 * MIN, to: T0 + 31 * MIN });
    expect(r.stacks).toHaveLength(5001);
    expect(r.stacks[0]).toEqual({ stack: "hot;path", count: 50 });
    expect(r.stacks.slice(1, 4).map((s) => s.stack)).toEqual(["s;0000", "s;0001", "s;0002"]);
    expect(r.stacks[4999]).toEqual({ stack: "s;4998", count: 1 });
    expect(r.stacks[5000]).toEqual({ stack: "(other)", count: 1001 });
    expect(r).toMatchObject({ total: 6050, distinct: 6001, truncated: true });
    expect(r.stacks.reduce((n, s) => n + s.count, 0)).toBe(r.total);
  });

  it("a tenant sees only its own stacks; another tenant's agent is not found", async () => {
    expect(await profile({}, other.client)).toEqual({ stacks: [{ stack: "main;serve;read", count: 1000 }], total: 1000, distinct: 1, truncated: false });
    const err = await trpcError(profile({ agentId: otherAgent.agentId }));
    expect(err.data?.httpStatus).toBe(404);
    expect(err.message).toBe(`agent "${otherAgent.agentId}" not found`);
    const theirs = await trpcError(profile({ agentId: a0.agentId }, other.client));
    expect(theirs.message).toBe(`agent "${a0.agentId}" not found`);
  });

  it.each([
    [{ agentId: "agt_nope" }, /^invalid input: agentId: expected an agent id such as agt_01h…/],
    [{ agentSelector: "env=prod", agentId: "agt_0000000000000000000000000a" }, /^invalid input: agentSelector: give agentId \(one agent\) or agentSelector \(a set of agents\), not both$/],
    [{ limit: 5001 }, /^invalid input: limit: limit must be at most 5000 stacks$/],
    [{ pid: -1 }, /^invalid input: pid: pid must be ≥ 0$/],
    [{ to: T0 }, /^invalid input: to: to must be after from$/],
  ] as const)("rejects %j with a message saying what is wrong", async (input, message) => {
    const err = await trpcError(profile(input as Partial<ProfileInput>));
    expect(err.data?.httpStatus).toBe(400);
    expect(err.message).toMatch(message);
  });
});
