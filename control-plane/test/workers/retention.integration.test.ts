import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pino, type Logger } from "pino";
import { connectDb, migrateDb, type DbHandle } from "../../src/db/client.ts";
import { DAY_MS, ensureSamplePartitions, partitionName, dayStart } from "../../src/db/samples-partitions.ts";
import { startPartitionManager, type Retention } from "../../src/workers/partition-manager.ts";
import { MINUTE_MS, startRollupWorker } from "../../src/workers/rollup-worker.ts";
import { createTestDatabase, type TestDatabase } from "@probepilot/testkit/database";
import { eventually } from "@probepilot/testkit/poll";

/**
 * Retention with the real workers on a real database (issue 11, item 9a): partition
 * maintenance used to throw on every start (a `Date` bound through the drizzle-wrapped
 * postgres.js client), so nothing past the ledger was ever pruned.
 */

let tdb: TestDatabase;
let db: DbHandle;
let seriesId: number;
const TENANT = "ten_retention";

/** A pino logger whose records land in `records` (the workers log failures, never throw). */
function capturingLogger(): { log: Logger; records: { level: number; msg: string; step?: string; err?: { message: string } }[] } {
  const records: { level: number; msg: string; step?: string; err?: { message: string } }[] = [];
  const log = pino({ level: "debug" }, { write: (line: string) => void records.push(JSON.parse(line)) });
  return { log, records };
}
const errorsOf = (records: { level: number; msg: string }[]) => records.filter((r) => r.level >= 50);

beforeAll(async () => {
  tdb = await createTestDatabase();
  db = connectDb(tdb.url, { max: 2 });
  await migrateDb(db);
  await db.sql`insert into tenants (id, name) values (${TENANT}, 'retention')`;
  const [s] = await db.sql`
    insert into series (tenant_id, agent_id, probe, metric, kind, labels, labels_key)
    values (${TENANT}, 'agt_r', 'host', 'm', 'gauge', '{}', '') returning id`;
  seriesId = Number(s!.id);
});
afterAll(async () => {
  await db?.close();
  await tdb?.drop();
});

describe("partition manager (real worker, real database)", () => {
  it("binds a Date into raw SQL on the drizzle-wrapped client", async () => {
    // The root cause: drizzle replaces the timestamp serializers of the client it wraps.
    const [row] = await db.sql<{ ms: string }[]>`select (extract(epoch from ${new Date(86_400_000)}::timestamptz) * 1000)::bigint as ms`;
    expect(Number(row!.ms)).toBe(86_400_000);
  });

  it("deletes exactly the rows past retention in every retained table, and keeps the rest", async () => {
    const now = Date.now();
    const retention: Retention = { rawMs: 2 * DAY_MS, rollup1mMs: 4 * DAY_MS, rollup1hMs: 6 * DAY_MS };
    const raw = now - retention.rawMs;
    const m1 = now - retention.rollup1mMs;
    const h1 = now - retention.rollup1hMs;
    // Margins of 10 minutes: the worker reads the clock a little after this test did.
    const M = 10 * MINUTE_MS;

    // Raw samples are dropped a whole day partition at a time: a sample more than a day older than
    // the horizon always is in a partition that ends before it; one newer than the horizon never is.
    const samples = { oldDropped: raw - DAY_MS - M, freshNearHorizon: raw + M, fresh: now };
    await ensureSamplePartitions(db.sql, samples.oldDropped, now);
    await db.sql`insert into samples (series_id, ts, value) values
      (${seriesId}, ${samples.oldDropped}, 1), (${seriesId}, ${samples.freshNearHorizon}, 2), (${seriesId}, ${samples.fresh}, 3)`;
    const oldPartition = partitionName(dayStart(samples.oldDropped));

    await db.sql`insert into ingest_ledger (agent_id, probe, seq, tenant_id, samples, ingested_at) values
      ('agt_r', 'host', 1, ${TENANT}, 1, ${new Date(raw - M).toISOString()}::timestamptz),
      ('agt_r', 'host', 2, ${TENANT}, 1, ${new Date(raw + M).toISOString()}::timestamptz),
      ('agt_r', 'host', 3, ${TENANT}, 1, now())`;
    await db.sql`insert into histogram_snapshots (series_id, ts, buckets, sum, count) values
      (${seriesId}, ${raw - M}, '{1}', 1, 1), (${seriesId}, ${raw + M}, '{2}', 2, 2), (${seriesId}, ${now}, '{3}', 3, 3)`;
    await db.sql`insert into telemetry_events (tenant_id, agent_id, probe, name, ts, attrs) values
      (${TENANT}, 'agt_r', 'process_exec', 'old', ${raw - M}, '{}'),
      (${TENANT}, 'agt_r', 'process_exec', 'near', ${raw + M}, '{}'),
      (${TENANT}, 'agt_r', 'process_exec', 'fresh', ${now}, '{}')`;
    await db.sql`insert into profile_stacks (tenant_id, agent_id, ts, pid, comm, stack, count) values
      (${TENANT}, 'agt_r', ${raw - M}, 1, 'old', 'a;b', 1),
      (${TENANT}, 'agt_r', ${raw + M}, 1, 'near', 'a;b', 1),
      (${TENANT}, 'agt_r', ${now}, 1, 'fresh', 'a;b', 1)`;
    // Rollups outlive raw data: a 1m bucket older than the raw horizon but within its own stays.
    for (const table of ["samples_1m", "samples_1h"] as const) {
      const horizon = table === "samples_1m" ? m1 : h1;
      await db.sql`insert into ${db.sql(table)} (series_id, bucket, count, sum, min, max, last) values
        (${seriesId}, ${horizon - M}, 1, 1, 1, 1, 1), (${seriesId}, ${horizon + M}, 1, 2, 2, 2, 2),
        (${seriesId}, ${raw - M}, 1, 3, 3, 3, 3), (${seriesId}, ${now}, 1, 4, 4, 4, 4)`;
    }

    const { log, records } = capturingLogger();
    const stop = startPartitionManager(db.sql, log, retention, 3600_000);
    await stop(); // waits for the pass the worker runs at start

    expect(errorsOf(records)).toEqual([]);
    const sampleTs = await db.sql<{ ts: string }[]>`select ts from samples order by ts`;
    expect(sampleTs.map((r) => Number(r.ts))).toEqual([samples.freshNearHorizon, samples.fresh]);
    const partitions = await db.sql<{ name: string }[]>`
      select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
      join pg_class p on p.oid = i.inhparent where p.relname = 'samples'`;
    const names = partitions.map((p) => p.name);
    expect(names).not.toContain(oldPartition);
    // Yesterday through two days ahead exist (created at start).
    for (let d = dayStart(now - DAY_MS); d <= now + 2 * DAY_MS; d += DAY_MS) expect(names).toContain(partitionName(d));

    const seqs = await db.sql<{ seq: string }[]>`select seq from ingest_ledger order by seq`;
    expect(seqs.map((r) => Number(r.seq))).toEqual([2, 3]);
    const hist = await db.sql<{ ts: string }[]>`select ts from histogram_snapshots order by ts`;
    expect(hist.map((r) => Number(r.ts))).toEqual([raw + M, now]);
    const events = await db.sql<{ name: string }[]>`select name from telemetry_events order by ts`;
    expect(events.map((r) => r.name)).toEqual(["near", "fresh"]);
    const stacks = await db.sql<{ comm: string }[]>`select comm from profile_stacks order by ts`;
    expect(stacks.map((r) => r.comm)).toEqual(["near", "fresh"]);
    const b1m = await db.sql<{ bucket: string }[]>`select bucket from samples_1m order by bucket`;
    expect(b1m.map((r) => Number(r.bucket))).toEqual([m1 + M, raw - M, now]);
    const b1h = await db.sql<{ bucket: string }[]>`select bucket from samples_1h order by bucket`;
    expect(b1h.map((r) => Number(r.bucket))).toEqual([h1 + M, raw - M, now]);

    const applied = records.find((r) => r.msg === "retention applied") as unknown as { dropped: string[]; deleted: Record<string, number> } | undefined;
    expect(applied?.dropped).toContain(oldPartition);
    expect(applied?.deleted).toMatchObject({ ingest_ledger: 1, histogram_snapshots: 1, telemetry_events: 1, profile_stacks: 1, samples_1m: 1, samples_1h: 1 });
  });

  it("the rollup worker rolls closed minutes up without errors", async () => {
    // Same class of bug checked for the rollup worker: it binds only numbers; run it for real.
    await db.sql`truncate samples, samples_1m, samples_1h, rollup_state, rollup_dirty`;
    const now = Date.now();
    const minute = now - (now % MINUTE_MS) - 10 * MINUTE_MS;
    await ensureSamplePartitions(db.sql, minute, now);
    await db.sql`insert into samples (series_id, ts, value) values (${seriesId}, ${minute + 1_000}, 5), (${seriesId}, ${minute + 2_000}, 7)`;
    await db.sql`insert into rollup_dirty (bucket) values (${minute})`;
    const { log, records } = capturingLogger();
    const stop = startRollupWorker(db.sql, log, { intervalMs: 20 });
    try {
      await eventually(async () => {
        const [row] = await db.sql`select count, sum, min, max, last from samples_1m where series_id = ${seriesId} and bucket = ${minute}`;
        expect(row).toMatchObject({ count: 2, sum: 12, min: 5, max: 7, last: 7 });
        const [w] = await db.sql<{ watermark: string }[]>`select watermark from rollup_state where tier = '1m'`;
        expect(Number(w?.watermark)).toBeGreaterThan(minute);
      });
    } finally {
      await stop();
    }
    expect(errorsOf(records)).toEqual([]);
  });
});
