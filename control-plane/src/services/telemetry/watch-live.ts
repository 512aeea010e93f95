import { tracked, type TrackedEnvelope } from "@trpc/server";
import type { Db } from "../../db/client.ts";
import { LIVE_UPDATES_PER_SECOND, LiveSession, sleep, type LiveChartInput, type LiveEvent } from "./live/live-session.ts";
import type { TelemetryTap } from "./live/telemetry-tap.ts";

export { LIVE_UPDATES_PER_SECOND, type LiveEvent } from "./live/live-session.ts";

export type WatchLiveInput = LiveChartInput & {
  /** The id of the last event the client received (reconnect): the stream resumes from there. */
  lastEventId?: string | null | undefined;
};

/**
 * A live range query: first a backfill of the complete buckets from Postgres,
 * then the current and later buckets folded from live telemetry (core NATS via
 * the tap, never Postgres polling), coalesced to at most 10 updates a second.
 * An update is tracked by the newest bucket it carries, the backfill by the first
 * bucket the live view owns; a client reconnecting with that id gets a backfill
 * from that bucket on (within its window), so nothing is missed.
 * `telemetry.liveMany` (watch-live-many.ts) is the same over several charts.
 */
export async function* watchLive(db: Db, tap: TelemetryTap, tenantId: string, input: WatchLiveInput, signal: AbortSignal): AsyncGenerator<TrackedEnvelope<LiveEvent>> {
  const session = await LiveSession.open(db, tap, tenantId);
  try {
    const chart = session.addChart(input);
    const backfill = await chart.backfill(chart.backfillFrom(input.lastEventId ? Number(input.lastEventId) : null));
    yield tracked(String(chart.floor), backfill);

    while (!signal.aborted) {
      await sleep(1000 / LIVE_UPDATES_PER_SECOND, signal);
      const update = signal.aborted ? null : chart.take();
      if (update) yield tracked(String(update.newest), { kind: "update", series: update.series });
    }
  } finally {
    session.close();
  }
}
