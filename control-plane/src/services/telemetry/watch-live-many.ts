import { tracked, type TrackedEnvelope } from "@trpc/server";
import type { Db } from "../../db/client.ts";
import { LATE_POINTS_MS, LIVE_UPDATES_PER_SECOND, LiveSession, sleep, type LiveChart, type LiveChartInput, type LiveEvent } from "./live/live-session.ts";
import type { TelemetryTap } from "./live/telemetry-tap.ts";

/** Backfill range queries one stream runs at a time (the pool is shared with every other request). */
const BACKFILL_CONCURRENCY = 4;

/** One chart of a `telemetry.liveMany` stream, named by a key unique within the stream. */
export type LiveManyChartInput = LiveChartInput & { key: string };

export type WatchLiveManyInput = {
  charts: LiveManyChartInput[];
  /** The id of the last event the client received (reconnect): every chart resumes from there. */
  lastEventId?: string | null | undefined;
};

/** One event of the stream: one chart's backfill or update. */
export type LiveManyEvent = { key: string; event: LiveEvent };

/** The first key that appears twice, if any (the router's input check names it; keys must be unique, 1 to MAX_LIVE_CHARTS charts, in shared). */
export function duplicateKey(charts: readonly { key: string }[]): string | undefined {
  const seen = new Set<string>();
  for (const { key } of charts) {
    if (seen.has(key)) return key;
    seen.add(key);
  }
  return undefined;
}

/**
 * Several live charts in one stream (SSE): a page of 8–32 charts needs one
 * connection, not one per chart (browsers allow 6 per origin over HTTP/1.1).
 * Same machinery as `telemetry.live` (see {@link LiveSession}): one tap listener
 * and one agent-labels refresh for the whole stream, one live aggregator per chart.
 *
 * Events: one backfill per chart first (in input order, queries run a few at a time),
 * then ticks of at most {@link LIVE_UPDATES_PER_SECOND} per second, each sending
 * one update per chart that changed. An update's points replace the points with
 * the same timestamps the client has.
 *
 * Event ids are a resume time R: a client reconnecting with its last id gets each
 * chart backfilled from R (aligned to its step, never before its window), then
 * live again; it merges by timestamp. While backfills go out, R is the earliest
 * backfill start (a client cut off then gets every window again); after a tick,
 * R is LATE_POINTS_MS before the tick, aligned down for each chart's step, since
 * every point received before the tick has been sent and points still on their way are
 * at most that late. Within a tick only the last event carries the new R.
 */
export async function* watchLiveMany(db: Db, tap: TelemetryTap, tenantId: string, input: WatchLiveManyInput, signal: AbortSignal): AsyncGenerator<TrackedEnvelope<LiveManyEvent>> {
  const session = await LiveSession.open(db, tap, tenantId);
  const backfills = new Limiter(BACKFILL_CONCURRENCY);
  try {
    // One clock for every chart: their buckets and floors line up.
    const now = Date.now();
    const charts = input.charts.map((c) => ({ key: c.key, chart: session.addChart(c, now) }));
    const resumeFrom = input.lastEventId ? Number(input.lastEventId) : null;
    const froms = charts.map(({ chart }) => chart.backfillFrom(resumeFrom));
    let resume = Math.min(...froms);
    const pending = charts.map(({ key, chart }, i) => backfills.run(() => chart.backfill(froms[i]!, key)));
    for (let i = 0; i < charts.length; i++) {
      const event = await pending[i]!;
      if (i === charts.length - 1) resume = Math.min(...charts.map(({ chart }) => chart.floor));
      yield tracked(String(resume), { key: charts[i]!.key, event });
    }

    while (!signal.aborted) {
      await sleep(1000 / LIVE_UPDATES_PER_SECOND, signal);
      if (signal.aborted) break;
      // Every take in one turn: a batch arriving while the events go out belongs to the next tick.
      const tickAt = Date.now();
      const updates: LiveManyEvent[] = [];
      for (const { key, chart } of charts) {
        const update = chart.take();
        if (update) updates.push({ key, event: { kind: "update", series: update.series } });
      }
      if (updates.length === 0) continue;
      const next = Math.max(resume, resumeTimeAfterTick(charts.map((c) => c.chart), tickAt));
      for (let i = 0; i < updates.length; i++) {
        if (i === updates.length - 1) resume = next;
        yield tracked(String(resume), updates[i]!);
      }
    }
  } finally {
    backfills.stop();
    session.close();
  }
}

/** The resume time once every chart has sent what it received before `tickAt`. */
function resumeTimeAfterTick(charts: LiveChart[], tickAt: number): number {
  const t = tickAt - LATE_POINTS_MS;
  return Math.min(...charts.map((c) => t - (t % c.input.stepMs)));
}

/**
 * Runs tasks at most `limit` at a time, in order. Rejections are observed at once
 * (a backfill failing while an earlier one is awaited must not be an unhandled
 * rejection); whoever awaits the returned promise still gets the error. After
 * `stop()`, tasks not started yet are never started.
 */
class Limiter {
  private running = 0;
  private stopped = false;
  private readonly queue: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = new Promise<T>((resolve, reject) => {
      const start = () => {
        if (this.stopped) return reject(new Error("stream closed"));
        this.running++;
        task()
          .then(resolve, reject)
          .finally(() => {
            this.running--;
            this.queue.shift()?.();
          });
      };
      if (this.running < this.limit) start();
      else this.queue.push(start);
    });
    result.catch(() => {});
    return result;
  }

  stop(): void {
    this.stopped = true;
    for (const start of this.queue.splice(0)) start();
  }
}
