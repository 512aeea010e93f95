import { tracked, type TrackedEnvelope } from "@trpc/server";
import { eq, sql } from "drizzle-orm";
import { parseSelector, type Labels } from "@probepilot/shared";
import type { Db } from "../../db/client.ts";
import { agents } from "../../db/schema.ts";
import { queryRange, type Aggregation, type RangePoint, type RangeSeries } from "./query-range.ts";
import { LiveAggregator } from "./live/live-aggregator.ts";
import type { TelemetryTap } from "./live/telemetry-tap.ts";

export type WatchLiveInput = {
  metric: string;
  agentSelector?: string;
  seriesSelector?: string;
  stepMs: number;
  agg: Aggregation;
  by?: string[];
  /** How much history the first event carries. */
  windowMs: number;
  /** The id of the last event the client received (reconnect): the stream resumes from there. */
  lastEventId?: string | null;
};

export type LiveEvent =
  | { kind: "backfill"; series: RangeSeries[]; stepMs: number; tier: string }
  | { kind: "update"; series: { labels: Labels; points: RangePoint[] }[] };

/** At most this many updates per second per subscription. */
export const LIVE_UPDATES_PER_SECOND = 10;
const AGENT_LABELS_REFRESH_MS = 10_000;

/**
 * A live range query: first a backfill of the complete buckets from Postgres,
 * then the current and later buckets folded from live telemetry (core NATS via
 * the tap, never Postgres polling), coalesced to at most 10 updates a second.
 * Every event is tracked by the newest bucket it carries; a client reconnecting
 * with that id gets a backfill from that bucket on, so nothing is missed.
 */
export async function* watchLive(db: Db, tap: TelemetryTap, tenantId: string, input: WatchLiveInput, signal: AbortSignal): AsyncGenerator<TrackedEnvelope<LiveEvent>> {
  const agentSelector = parseSelector(input.agentSelector ?? "");
  let agentLabels = await loadAgentLabels(db, tenantId);
  const aggregator = new LiveAggregator(
    { metric: input.metric, agentSelector, seriesSelector: parseSelector(input.seriesSelector ?? ""), stepMs: input.stepMs, agg: input.agg, by: input.by ?? [] },
    (id) => agentLabels.get(id),
  );
  // Listen before reading the backfill, so that nothing falls between the two.
  const stopListening = tap.listen(tenantId, (batch) => aggregator.add(batch));
  const refresh = setInterval(() => void loadAgentLabels(db, tenantId).then((m) => (agentLabels = m), () => {}), AGENT_LABELS_REFRESH_MS);
  try {
    const now = Date.now();
    const cut = now - (now % input.stepMs); // start of the current bucket: the backfill ends before it
    const resumeFrom = input.lastEventId ? Number(input.lastEventId) : NaN;
    const from = Number.isFinite(resumeFrom) ? Math.min(resumeFrom, cut) : cut - input.windowMs;
    aggregator.startAt(cut);
    const backfill = from < cut ? await queryRange(db, tenantId, { ...input, from, to: cut }) : { series: [], tier: "raw", stepMs: input.stepMs };
    await seedCurrentBucket(db, tenantId, input.metric, cut, aggregator);
    yield tracked(String(cut - input.stepMs), { kind: "backfill", series: backfill.series, stepMs: input.stepMs, tier: backfill.tier });

    while (!signal.aborted) {
      await sleep(1000 / LIVE_UPDATES_PER_SECOND, signal);
      if (signal.aborted || !aggregator.dirty) continue;
      const series = aggregator.take();
      const newest = Math.max(...series.flatMap((s) => s.points.map(([ts]) => ts)));
      yield tracked(String(newest), { kind: "update", series });
    }
  } finally {
    clearInterval(refresh);
    stopListening();
  }
}

async function loadAgentLabels(db: Db, tenantId: string): Promise<Map<string, Labels>> {
  const rows = await db.select({ id: agents.id, labels: agents.labels }).from(agents).where(eq(agents.tenantId, tenantId));
  return new Map(rows.map((r) => [r.id, r.labels]));
}

/** The stored points of the current bucket (it began before the subscription did). */
async function seedCurrentBucket(db: Db, tenantId: string, metric: string, from: number, aggregator: LiveAggregator): Promise<void> {
  const rows = await db.execute<{ agent_id: string; probe: string; kind: "gauge" | "counter"; labels: Labels; points: [number, number][] }>(sql`
    select s.agent_id, s.probe, s.kind, s.labels, json_agg(json_build_array(x.ts, x.value) order by x.ts) as points
    from series s join samples x on x.series_id = s.id
    where s.tenant_id = ${tenantId} and s.metric = ${metric} and x.ts >= ${from}
    group by s.id`);
  for (const r of rows) aggregator.seed(r.agent_id, r.probe, { metric, kind: r.kind, labels: r.labels, points: r.points.map(([t, v]) => [Number(t), Number(v)]) });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
  });
}
