import type postgres from "postgres";
import type { Logger } from "../logger.ts";

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
/** Default time after a minute ends before it is rolled up (data still in flight lands first). */
export const ROLLUP_LAG_MS = 2 * MINUTE_MS;

export type RollupOptions = {
  /** How long after a minute ends before it is rolled up: data still in flight lands first. */
  lagMs?: number;
  /** At most this much raw time is rolled up per pass, so a backlog is caught up in bounded transactions. */
  maxSpanMs?: number;
  intervalMs?: number;
};

/**
 * Maintains the 1-minute and 1-hour rollups incrementally. Each tier has a
 * watermark (`rollup_state`): everything before it is rolled up. A pass rolls
 * the next span of closed minutes from raw samples into `samples_1m`, then the
 * closed hours from `samples_1m` into `samples_1h`. Late data (a spool replayed
 * after an outage) lands before the watermark; the ingester marks its minutes in
 * `rollup_dirty` in the same transaction, and the next pass recomputes them (and
 * their hours). Every write replaces the bucket with a recomputation from the
 * tier below, so passes are idempotent. With several control planes, a
 * transaction-scoped advisory lock lets one run a pass at a time.
 */
export function startRollupWorker(sql: postgres.Sql, log: Logger, opts: RollupOptions = {}): () => Promise<void> {
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let inFlight: Promise<void> = Promise.resolve();
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      inFlight = rollupPass(sql, opts)
        .then(
          (r) => void (r.minutes + r.dirty > 0 && log.debug(r, "rollup pass")),
          (err) => log.error({ err }, "rollup pass failed"),
        )
        .then(schedule);
    }, opts.intervalMs ?? 10_000);
  };
  schedule();
  return async () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    await inFlight;
  };
}

/** One pass; returns how many minutes it rolled up and how many dirty minutes it recomputed. */
export async function rollupPass(sql: postgres.Sql, opts: RollupOptions = {}, now = Date.now()): Promise<{ minutes: number; dirty: number; skipped: boolean }> {
  const lagMs = opts.lagMs ?? ROLLUP_LAG_MS;
  const maxSpanMs = opts.maxSpanMs ?? 30 * MINUTE_MS;
  return sql.begin(async (tx) => {
    const [lock] = await tx<{ ok: boolean }[]>`select pg_try_advisory_xact_lock(hashtext('probepilot:rollup')) as ok`;
    if (!lock?.ok) return { minutes: 0, dirty: 0, skipped: true };

    // 1. Late minutes first (recomputed whole from raw), then their hours.
    const dirty = await tx<{ bucket: string }[]>`delete from rollup_dirty returning bucket`;
    const dirtyMinutes = dirty.map((d) => Number(d.bucket));
    for (const m of dirtyMinutes) await rollMinutes(tx, m, m + MINUTE_MS);

    // 2. The next span of closed minutes.
    const closed = now - lagMs - ((now - lagMs) % MINUTE_MS);
    const w1m = await watermark(tx, "1m", async () => {
      const [row] = await tx<{ min: string | null }[]>`select min(ts) as min from samples`;
      return row?.min === null || row?.min === undefined ? closed : Number(row.min) - (Number(row.min) % MINUTE_MS);
    });
    const to1m = Math.min(closed, w1m + maxSpanMs);
    if (to1m > w1m) {
      await rollMinutes(tx, w1m, to1m);
      await setWatermark(tx, "1m", to1m);
    }

    // 3. Hours: those the 1m tier has completely, plus the hours of late minutes.
    const minuteMark = Math.max(w1m, to1m);
    const closedHour = minuteMark - (minuteMark % HOUR_MS);
    const w1h = await watermark(tx, "1h", async () => w1m - (w1m % HOUR_MS));
    for (let h = w1h; h < closedHour; h += HOUR_MS) await rollHour(tx, h);
    if (closedHour > w1h) await setWatermark(tx, "1h", closedHour);
    for (const h of new Set(dirtyMinutes.map((m) => m - (m % HOUR_MS)))) if (h < Math.max(w1h, closedHour)) await rollHour(tx, h);

    return { minutes: Math.max(0, (to1m - w1m) / MINUTE_MS), dirty: dirtyMinutes.length, skipped: false };
  });
}

type Tx = postgres.TransactionSql;

async function watermark(tx: Tx, tier: string, initial: () => Promise<number>): Promise<number> {
  const [row] = await tx<{ watermark: string }[]>`select watermark from rollup_state where tier = ${tier}`;
  if (row) return Number(row.watermark);
  const start = await initial();
  await setWatermark(tx, tier, start);
  return start;
}

async function setWatermark(tx: Tx, tier: string, value: number): Promise<void> {
  await tx`insert into rollup_state (tier, watermark) values (${tier}, ${value}) on conflict (tier) do update set watermark = excluded.watermark`;
}

/** Recompute the 1-minute buckets of [from, to) from raw samples. */
async function rollMinutes(tx: Tx, from: number, to: number): Promise<void> {
  await tx`
    insert into samples_1m (series_id, bucket, count, sum, min, max, last)
    select series_id, ts - ts % 60000 as bucket, count(*), sum(value), min(value), max(value),
           (array_agg(value order by ts desc))[1]
    from samples where ts >= ${from} and ts < ${to}
    group by 1, 2
    on conflict (series_id, bucket) do update set
      count = excluded.count, sum = excluded.sum, min = excluded.min, max = excluded.max, last = excluded.last`;
}

/** Recompute one 1-hour bucket from its 1-minute buckets. */
async function rollHour(tx: Tx, hour: number): Promise<void> {
  await tx`
    insert into samples_1h (series_id, bucket, count, sum, min, max, last)
    select series_id, ${hour}::bigint, sum(count)::int, sum(sum), min(min), max(max),
           (array_agg(last order by bucket desc))[1]
    from samples_1m where bucket >= ${hour} and bucket < ${hour + HOUR_MS}
    group by series_id
    on conflict (series_id, bucket) do update set
      count = excluded.count, sum = excluded.sum, min = excluded.min, max = excluded.max, last = excluded.last`;
}
