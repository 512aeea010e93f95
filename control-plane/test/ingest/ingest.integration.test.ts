import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { DEAD_LETTER_REASON_HEADER, deadLetterSubject, telemetrySubject, type TelemetryBatch } from "@probepilot/shared";
import { startHarness, type Harness } from "@probepilot/testkit/control-plane-harness";
import { enrollAgents, type EnrolledAgent } from "@probepilot/testkit/fake-hello";
import { readDeadLetters } from "@probepilot/testkit/status-messages";
import { eventually } from "@probepilot/testkit/poll";
import { metricValue, scrape } from "@probepilot/testkit/metrics-text";

let h: Harness;
let tenantId: string;
let agents: EnrolledAgent[];

beforeAll(async () => {
  h = await startHarness();
  const { token } = await h.client().enrollTokens.create.mutate({});
  ({ tenantId, agents } = await enrollAgents(h.cp.url, token, 3, { prefix: "ingest" }));
});
afterAll(async () => {
  await h?.stop();
});

const js = () => h.cp.nc.jetstream();

function batch(agentId: string, seq: number, overrides: Partial<TelemetryBatch> = {}): TelemetryBatch {
  const now = Date.now();
  return {
    v: 1,
    tenantId,
    agentId,
    probe: "host",
    probeVersion: "builtin",
    seq,
    sentAt: now,
    series: [
      { metric: "host_load1", kind: "gauge", labels: {}, points: [[now - 1000, 0.5], [now, 0.75]] },
      { metric: "host_cpu_utilization", kind: "gauge", unit: "ratio", labels: { mode: "user" }, points: [[now, 0.25]] },
    ],
    histograms: [],
    events: [],
    profiles: [],
    ...overrides,
  };
}

async function publish(b: TelemetryBatch | string | Uint8Array, subject?: string) {
  const data = typeof b === "string" || b instanceof Uint8Array ? b : JSON.stringify(b);
  const subj = subject ?? telemetrySubject((b as TelemetryBatch).tenantId, (b as TelemetryBatch).agentId, (b as TelemetryBatch).probe);
  await js().publish(subj, data);
}

const sampleCount = async (agentId: string) =>
  Number((await h.cp.db.sql`select count(*)::int as n from samples x join series s on s.id = x.series_id where s.agent_id = ${agentId}`)[0]!.n);

describe("telemetry ingest", () => {
  it("stores every sample of a batch against its series, with the series' labels", async () => {
    const a = agents[0]!;
    const b = batch(a.agentId, 0);
    await publish(b);
    await eventually(async () => expect(await sampleCount(a.agentId)).toBe(3));
    const rows = await h.cp.db.sql`
      select s.metric, s.labels, s.kind, s.unit, x.ts::float8 as ts, x.value from samples x join series s on s.id = x.series_id
      where s.agent_id = ${a.agentId} order by s.metric, x.ts`;
    expect(rows.map((r) => [r.metric, r.labels, r.kind, r.unit, Number(r.ts), r.value])).toEqual([
      ["host_cpu_utilization", { mode: "user" }, "gauge", "ratio", b.series[1]!.points[0]![0], 0.25],
      ["host_load1", {}, "gauge", null, b.series[0]!.points[0]![0], 0.5],
      ["host_load1", {}, "gauge", null, b.series[0]!.points[1]![0], 0.75],
    ]);
    const ledger = await h.cp.db.sql`select samples from ingest_ledger where agent_id = ${a.agentId} and probe = 'host' and seq = 0`;
    expect(ledger.map((r) => r.samples)).toEqual([3]);
  });

  it("a batch published again (redelivery, spool replay) changes nothing", async () => {
    const a = agents[1]!;
    const b = batch(a.agentId, 7);
    await publish(b);
    await eventually(async () => expect(await sampleCount(a.agentId)).toBe(3));
    const before = metricValue(await scrape(h.cp.url), "probepilot_ingest_batches_total", { outcome: "duplicate" }) ?? 0;
    await publish(b);
    await publish(b);
    await eventually(async () => expect(metricValue(await scrape(h.cp.url), "probepilot_ingest_batches_total", { outcome: "duplicate" })).toBe(before + 2));
    expect(await sampleCount(a.agentId)).toBe(3);
  });

  it("stores histograms, events and profile stacks", async () => {
    const a = agents[2]!;
    const now = Date.now();
    await publish(
      batch(a.agentId, 1, {
        series: [],
        histograms: [{ metric: "runqueue_latency_us", unit: "us", labels: { cpu: "0" }, at: now, buckets: [0, 3, 5, 1], sum: 42.5, count: 9 }],
        events: [{ name: "process_exec", at: now, attrs: { comm: "true", pid: 123, ok: true, parent: null } }],
        profiles: [{ at: now, pid: 99, comm: "busy", stacks: [["main;spin", 40], ["main;idle", 2]] }],
      }),
    );
    await eventually(async () => {
      const [hist] = await h.cp.db.sql`select buckets, sum, count::int from histogram_snapshots x join series s on s.id = x.series_id where s.agent_id = ${a.agentId}`;
      expect(hist).toMatchObject({ sum: 42.5, count: 9 });
      expect(hist!.buckets.map(Number)).toEqual([0, 3, 5, 1]);
    });
    const events = await h.cp.db.sql`select name, attrs from telemetry_events where agent_id = ${a.agentId}`;
    expect(events.map((e) => [e.name, e.attrs])).toEqual([["process_exec", { comm: "true", pid: 123, ok: true, parent: null }]]);
    const stacks = await h.cp.db.sql`select stack, count from profile_stacks where agent_id = ${a.agentId} order by count desc`;
    expect(stacks.map((s) => [s.stack, s.count])).toEqual([["main;spin", 40], ["main;idle", 2]]);
  });
});

describe("poison telemetry is dead-lettered and ingest goes on", () => {
  const a = () => agents[0]!;
  const cases: { name: string; body: () => string | Uint8Array; subject?: () => string; reason: RegExp }[] = [
    { name: "random bytes", body: () => randomBytes(256), reason: /^not_json: / },
    { name: "a wrong envelope version", body: () => JSON.stringify({ ...batch(a().agentId, 100), v: 2 }), reason: /^version: envelope version 2/ },
    { name: "an infinity (1e400)", body: () => JSON.stringify(batch(a().agentId, 101)).replace('"points":[[', '"points":[[').replace(/,0\.5\]/, ",1e400]"), reason: /^schema: series\.0\.points\.0\.1: expected a finite number/ },
    { name: "NaN as a string", body: () => JSON.stringify(batch(a().agentId, 102)).replace(/,0\.25\]/, ',"NaN"]'), reason: /^schema: series\.1\.points\.0\.1/ },
    { name: "a timestamp far in the future", body: () => JSON.stringify(batch(a().agentId, 103, { series: [{ metric: "m", kind: "gauge", labels: {}, points: [[Date.now() + 86_400_000, 1]] }] })), reason: /^time: series\.0\.points\.0\.0: .* outside the accepted window/ },
    { name: "a timestamp far in the past", body: () => JSON.stringify(batch(a().agentId, 104, { series: [{ metric: "m", kind: "gauge", labels: {}, points: [[Date.parse("2001-01-01"), 1]] }] })), reason: /^time: / },
    { name: "an oversized batch", body: () => JSON.stringify(batch(a().agentId, 105, { series: [{ metric: "m", kind: "gauge", labels: { pad: "x" }, points: Array.from({ length: 30_000 }, (_, i) => [Date.now() - i, i] as [number, number]) }] })), reason: /^oversize: \d+ bytes; the limit is 524288/ },
    { name: "a bad label key", body: () => JSON.stringify(batch(a().agentId, 106, { series: [{ metric: "m", kind: "gauge", labels: { "Bad Key": "x" }, points: [[Date.now(), 1]] }] })), reason: /^schema: series\.0\.labels\.Bad Key: / },
    { name: "an agent that is not enrolled", body: () => JSON.stringify(batch("agt_00000000000000000000000000", 1)), subject: () => telemetrySubject(tenantId, "agt_00000000000000000000000000", "host"), reason: /^unknown_agent: / },
    { name: "a batch on another agent's subject", body: () => JSON.stringify(batch(a().agentId, 107)), subject: () => telemetrySubject(tenantId, agents[1]!.agentId, "host"), reason: /^subject_mismatch: / },
  ];

  it.each(cases)("$name", async ({ body, subject, reason }) => {
    const before = (await readDeadLetters(h.cp.nc)).length;
    await publish(body(), subject?.() ?? telemetrySubject(tenantId, a().agentId, "host"));
    const dead = await eventually(async () => {
      const all = await readDeadLetters(h.cp.nc);
      expect(all.length).toBe(before + 1);
      return all[all.length - 1]!;
    });
    expect(dead.subject).toBe(deadLetterSubject("telemetry"));
    expect(dead.header.get(DEAD_LETTER_REASON_HEADER)).toMatch(reason);
    // Ingest goes on: a valid batch after it is stored.
    const count = await sampleCount(a().agentId);
    await publish(batch(a().agentId, 1000 + cases.findIndex((c) => c.reason === reason)));
    await eventually(async () => expect(await sampleCount(a().agentId)).toBe(count + 3));
  });

  it("counts them by reason on /metrics", async () => {
    const text = await scrape(h.cp.url);
    for (const reason of ["not_json", "version", "schema", "time", "oversize", "unknown_agent", "subject_mismatch"]) {
      expect(metricValue(text, "probepilot_dead_letters_total", { source: "telemetry", reason })).toBeGreaterThanOrEqual(1);
    }
    expect(metricValue(text, "probepilot_dead_letters_total", { source: "telemetry", reason: "schema" })).toBe(3); // infinity, NaN, label key
  });
});
