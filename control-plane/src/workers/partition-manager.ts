import type postgres from "postgres";
import type { Logger } from "../logger.ts";
import { DAY_MS, dropSamplePartitionsBefore, ensureSamplePartitions } from "../db/samples-partitions.ts";

export type Retention = { rawMs: number; rollup1mMs: number; rollup1hMs: number };

/** What one maintenance pass did: partitions dropped, rows deleted per table, steps that failed. */
export type MaintenanceResult = { droppedPartitions: string[]; deleted: Record<string, number>; failed: string[] };

/**
 * Keeps `samples` partitioned ahead (yesterday through two days from now) and
 * applies retention: raw partitions past `rawMs` are dropped whole (no row-by-row
 * delete), the ledger and the other raw tables are pruned to the same horizon,
 * and rollups to theirs. Runs at start, then every `intervalMs`.
 */
export function startPartitionManager(sql: postgres.Sql, log: Logger, retention: Retention, intervalMs = 3600_000): () => Promise<void> {
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let inFlight: Promise<void> = Promise.resolve();
  const run = async () => {
    const r = await runPartitionMaintenance(sql, log, retention);
    const deleted = Object.fromEntries(Object.entries(r.deleted).filter(([, n]) => n > 0));
    if (r.droppedPartitions.length > 0 || Object.keys(deleted).length > 0) log.info({ dropped: r.droppedPartitions, deleted }, "retention applied");
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      inFlight = run().then(schedule);
    }, intervalMs);
  };
  inFlight = run().then(schedule);
  return async () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    await inFlight;
  };
}

/**
 * One maintenance pass at `now`. Each step runs on its own: one that fails is logged
 * (`partition maintenance failed` with the step) and the others still run, so one
 * broken table no longer stops retention everywhere. Never throws.
 */
export async function runPartitionMaintenance(sql: postgres.Sql, log: Logger, retention: Retention, now = Date.now()): Promise<MaintenanceResult> {
  const result: MaintenanceResult = { droppedPartitions: [], deleted: {}, failed: [] };
  const step = async (name: string, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (err) {
      result.failed.push(name);
      log.error({ err, step: name }, "partition maintenance failed");
    }
  };
  const rawHorizon = now - retention.rawMs;
  const deleteOlder = (table: string, query: () => postgres.PendingQuery<postgres.Row[]>) =>
    step(`prune ${table}`, async () => {
      result.deleted[table] = (await query()).count;
    });

  await step("create partitions", async () => void (await ensureSamplePartitions(sql, now - DAY_MS, now + 2 * DAY_MS)));
  await step("drop partitions", async () => void result.droppedPartitions.push(...(await dropSamplePartitionsBefore(sql, rawHorizon))));
  // `ingested_at` is a timestamptz: the horizon goes as ISO text (a `Date` works too since
  // `acceptDateParameters`, but this function may be handed any postgres.js client).
  await deleteOlder("ingest_ledger", () => sql`delete from ingest_ledger where ingested_at < ${new Date(rawHorizon).toISOString()}::timestamptz`);
  await deleteOlder("histogram_snapshots", () => sql`delete from histogram_snapshots where ts < ${rawHorizon}`);
  await deleteOlder("telemetry_events", () => sql`delete from telemetry_events where ts < ${rawHorizon}`);
  await deleteOlder("profile_stacks", () => sql`delete from profile_stacks where ts < ${rawHorizon}`);
  await deleteOlder("samples_1m", () => sql`delete from samples_1m where bucket < ${now - retention.rollup1mMs}`);
  await deleteOlder("samples_1h", () => sql`delete from samples_1h where bucket < ${now - retention.rollup1hMs}`);
  return result;
}
