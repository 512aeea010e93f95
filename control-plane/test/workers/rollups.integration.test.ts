import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { telemetrySubject } from "@probepilot/shared";
import { startHarness, type Harness } from "@probepilot/testkit/control-plane-harness";
import { enrollAgents } from "@probepilot/testkit/fake-hello";
import { eventually } from "@probepilot/testkit/poll";
import { HOUR_MS, MINUTE_MS, rollupPass } from "../../src/workers/rollup-worker.ts";
import { ensureSamplePartitions } from "../../src/db/samples-partitions.ts";

let h: Harness;
let seriesA: number;
let seriesB: number;
// A fixed, recent hour so partitions exist and retention does not interfere.
const hour = Date.now() - (Date.now() % HOUR_MS) - 3 * HOUR_MS;

beforeAll(async () => {
  h = await startHarness();
  const sql = h.cp.db.sql;
  await ensureSamplePartitions(sql, hour - HOUR_MS, Date.now() + HOUR_MS);
  const [tenant] = await sql`select id from tenants limit 1`;
  const rows = await sql`
    insert into series (tenant_id, agent_id, probe, metric, kind, labels, labels_key)
    values (${tenant!.id}, 'agt_x', 'host', 'm', 'gauge', '{}', ''), (${tenant!.id}, 'agt_x', 'host', 'm', 'gauge', '{"k":"b"}', 'k=b')
    returning id`;
  [seriesA, seriesB] = rows.map((r) => Number(r.id)) as [number, number];
  // Series A: one sample every 10 s for the hour, value = minute index (0..59) + second/100.
  const values: [number, number, number][] = [];
  for (let t = hour; t < hour + HOUR_MS; t += 10_000) values.push([seriesA, t, Math.floor((t - hour) / MINUTE_MS) + ((t / 1000) % 60) / 100]);
  // Series B: a single sample in minute 5.
  values.push([seriesB, hour + 5 * MINUTE_MS + 1, 42]);
  await sql`insert into samples (series_id, ts, value) select * from unnest(${values.map((v) => v[0])}::bigint[], ${values.map((v) => v[1])}::bigint[], ${values.map((v) => v[2])}::float8[])`;
  // Start the watermarks at this hour (the worker would start at the oldest sample otherwise).
  await sql`insert into rollup_state (tier, watermark) values ('1m', ${hour}), ('1h', ${hour}) on conflict (tier) do update set watermark = excluded.watermark`;
});
afterAll(async () => {
  await h?.stop();
});

const minuteRow = async (series: number, bucket: number) =>
  (await h.cp.db.sql`select count, sum, min, max, last from samples_1m where series_id = ${series} and bucket = ${bucket}`)[0];

describe("rollups", () => {
  it("rolls closed minutes from raw, with count, sum, min, max and last, and advances the watermark", async () => {
    // 2 h after the hour started: every minute of it is closed (lag 2 min).
    const r = await rollupPass(h.cp.db.sql, { maxSpanMs: 2 * HOUR_MS }, hour + 2 * HOUR_MS);
    expect(r.skipped).toBe(false);
    const m3 = await minuteRow(seriesA, hour + 3 * MINUTE_MS);
    // Minute 3 holds 6 samples: 3 + s/100 for s in 0,10,…,50 (plus the hour's own second offset, 0 here).
    const expected = [0, 10, 20, 30, 40, 50].map((s) => 3 + (((hour + 3 * MINUTE_MS + s * 1000) / 1000) % 60) / 100);
    expect(m3).toMatchObject({ count: 6, min: Math.min(...expected), max: Math.max(...expected), last: expected[5] });
    expect(m3!.sum).toBeCloseTo(expected.reduce((a, b) => a + b, 0), 9);
    expect(await minuteRow(seriesB, hour + 5 * MINUTE_MS)).toMatchObject({ count: 1, sum: 42, min: 42, max: 42, last: 42 });
    const [w] = await h.cp.db.sql`select watermark from rollup_state where tier = '1m'`;
    expect(Number(w!.watermark)).toBe(hour + 2 * HOUR_MS - 2 * MINUTE_MS);
  });

  it("rolls the closed hour from its minutes", async () => {
    const [row] = await h.cp.db.sql`select count, sum, min, max, last from samples_1h where series_id = ${seriesA} and bucket = ${hour}`;
    expect(row).toMatchObject({ count: 360, min: 0 + ((hour / 1000) % 60) / 100 });
    expect(row!.max).toBeCloseTo(59 + (((hour + HOUR_MS - 10_000) / 1000) % 60) / 100, 9);
    const [b] = await h.cp.db.sql`select count, sum from samples_1h where series_id = ${seriesB} and bucket = ${hour}`;
    expect(b).toMatchObject({ count: 1, sum: 42 });
  });

  it("is idempotent: a second pass over the same time changes nothing", async () => {
    const before = await h.cp.db.sql`select * from samples_1m where series_id = ${seriesA} order by bucket`;
    await h.cp.db.sql`update rollup_state set watermark = ${hour} where tier = '1m'`;
    await rollupPass(h.cp.db.sql, { maxSpanMs: 2 * HOUR_MS }, hour + 2 * HOUR_MS);
    expect(await h.cp.db.sql`select * from samples_1m where series_id = ${seriesA} order by bucket`).toEqual(before);
  });

  it("recomputes a minute (and its hour) that late data landed in, once marked dirty", async () => {
    await h.cp.db.sql`insert into samples (series_id, ts, value) values (${seriesB}, ${hour + 5 * MINUTE_MS + 30_000}, 8)`;
    await h.cp.db.sql`insert into rollup_dirty (bucket) values (${hour + 5 * MINUTE_MS})`;
    const r = await rollupPass(h.cp.db.sql, {}, hour + 2 * HOUR_MS);
    expect(r.dirty).toBe(1);
    expect(await minuteRow(seriesB, hour + 5 * MINUTE_MS)).toMatchObject({ count: 2, sum: 50, min: 8, max: 42, last: 8 });
    const [b] = await h.cp.db.sql`select count, sum, last from samples_1h where series_id = ${seriesB} and bucket = ${hour}`;
    expect(b).toMatchObject({ count: 2, sum: 50, last: 8 });
  });

  it("the ingester marks the minutes of late points dirty in the same transaction", async () => {
    const { token } = await h.client().enrollTokens.create.mutate({});
    const { tenantId, agents } = await enrollAgents(h.cp.url, token, 1, { prefix: "late" });
    const late = Date.now() - 30 * MINUTE_MS;
    const lateMinute = late - (late % MINUTE_MS);
    await h.cp.nc.jetstream().publish(
      telemetrySubject(tenantId, agents[0]!.agentId, "host"),
      JSON.stringify({ v: 1, tenantId, agentId: agents[0]!.agentId, probe: "host", probeVersion: "builtin", seq: 0, sentAt: Date.now(), series: [{ metric: "m", kind: "gauge", labels: {}, points: [[late, 1], [Date.now(), 2]] }] }),
    );
    await eventually(async () => {
      const rows = await h.cp.db.sql`select bucket from rollup_dirty`;
      expect(rows.map((r) => Number(r.bucket))).toEqual([lateMinute]); // the fresh point is not marked
    });
  });

  it("a pass skips while another control plane holds the rollup lock", async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const lockTaken = new Promise<void>((r) => (locked = r));
    const holder = h.cp.db.sql.begin(async (tx) => {
      await tx`select pg_advisory_xact_lock(hashtext('probepilot:rollup'))`;
      locked();
      await held;
    });
    await lockTaken;
    expect((await rollupPass(h.cp.db.sql)).skipped).toBe(true);
    release();
    await holder;
    expect((await rollupPass(h.cp.db.sql)).skipped).toBe(false);
  });
});
