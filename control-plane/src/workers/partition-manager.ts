import type postgres from "postgres";
import type { Logger } from "../logger.ts";
import { DAY_MS, dropSamplePartitionsBefore, ensureSamplePartitions } from "../db/samples-partitions.ts";

export type Retention = { rawMs: number; rollup1mMs: number; rollup1hMs: number };

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
    try {
      const now = Date.now();
      await ensureSamplePartitions(sql, now - DAY_MS, now + 2 * DAY_MS);
      const dropped = await dropSamplePartitionsBefore(sql, now - retention.rawMs);
      const rawHorizon = now - retention.rawMs;
      await sql`delete from ingest_ledger where ingested_at < ${new Date(rawHorizon)}`;
      await sql`delete from histogram_snapshots where ts < ${rawHorizon}`;
      await sql`delete from telemetry_events where ts < ${rawHorizon}`;
      await sql`delete from profile_stacks where ts < ${rawHorizon}`;
      await sql`delete from samples_1m where bucket < ${now - retention.rollup1mMs}`;
      await sql`delete from samples_1h where bucket < ${now - retention.rollup1hMs}`;
      if (dropped.length > 0) log.info({ dropped }, "dropped raw sample partitions past retention");
    } catch (err) {
      log.error({ err }, "partition maintenance failed");
    }
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
