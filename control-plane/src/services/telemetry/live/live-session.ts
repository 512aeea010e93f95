import { eq, sql } from "drizzle-orm";
import { parseSelector, type Labels } from "@probepilot/shared";
import type { Db } from "../../../db/client.ts";
import { agents } from "../../../db/schema.ts";
import { ServiceError } from "../../errors.ts";
import { queryRange, seriesFilters, type Aggregation, type RangePoint, type RangeSeries } from "../query-range.ts";
import { LiveAggregator } from "./live-aggregator.ts";
import type { TelemetryTap } from "./telemetry-tap.ts";

/** One live chart: a range query shape plus how much history its backfill carries. */
export type LiveChartInput = {
  metric: string;
  agentSelector?: string | undefined;
  seriesSelector?: string | undefined;
  stepMs: number;
  agg: Aggregation;
  by?: string[] | undefined;
  /** How much history the backfill carries. */
  windowMs: number;
};

/** What a live stream sends per chart: one backfill first, then updates of the buckets that changed. */
export type LiveEvent =
  | { kind: "backfill"; series: RangeSeries[]; stepMs: number; tier: string }
  | { kind: "update"; series: { labels: Labels; points: RangePoint[] }[] };

/** At most this many update ticks per second per stream (a tick sends at most one update per chart). */
export const LIVE_UPDATES_PER_SECOND = 10;

/**
 * How late a point may reach the tap after its timestamp and still be folded live:
 * agents batch about 1 s, so the bucket before the one current at subscription time
 * is usually still arriving. Without this the live view would drop those points (they
 * are older than its first live bucket) while the backfill, read before they were
 * stored, lacks them too: a hole at the start of every chart.
 */
export const LATE_POINTS_MS = 2_000;

const AGENT_LABELS_REFRESH_MS = 10_000;

const bucketStart = (ts: number, stepMs: number) => ts - (ts % stepMs);

/**
 * The shared part of the live views (`telemetry.live`, `telemetry.liveMany`): one
 * tap listener and one map of agent labels (reloaded every 10 s) per stream,
 * however many charts it carries. Open it, add the charts right away (each one
 * starts folding live batches when added, so nothing falls between the listener
 * and its backfill), read each chart's backfill, then `take()` updates; `close()`
 * in a `finally`.
 */
export class LiveSession {
  private agentLabels = new Map<string, Labels>();
  private readonly charts: LiveChart[] = [];
  private stopListening: () => void = () => {};
  private refresh: ReturnType<typeof setInterval> | undefined;

  private constructor(
    private readonly db: Db,
    private readonly tenantId: string,
  ) {}

  /** Load the tenant's agent labels and start listening to its live telemetry. */
  static async open(db: Db, tap: TelemetryTap, tenantId: string): Promise<LiveSession> {
    const session = new LiveSession(db, tenantId);
    session.agentLabels = await loadAgentLabels(db, tenantId);
    session.stopListening = tap.listen(tenantId, (batch) => {
      for (const chart of session.charts) chart.aggregator.add(batch);
    });
    session.refresh = setInterval(
      () => void loadAgentLabels(db, tenantId).then((m) => (session.agentLabels = m), () => {}),
      AGENT_LABELS_REFRESH_MS,
    );
    return session;
  }

  /**
   * Add a chart. From now on it folds every live point at or after its `floor`
   * (a little before the current bucket, see {@link LATE_POINTS_MS}); its backfill
   * covers the complete buckets before `cut`.
   */
  addChart(input: LiveChartInput, now = Date.now()): LiveChart {
    const aggregator = new LiveAggregator(
      {
        metric: input.metric,
        agentSelector: parseSelector(input.agentSelector ?? ""),
        seriesSelector: parseSelector(input.seriesSelector ?? ""),
        stepMs: input.stepMs,
        agg: input.agg,
        by: input.by ?? [],
      },
      (id) => this.agentLabels.get(id),
    );
    const chart = new LiveChart(this.db, this.tenantId, input, aggregator, now);
    this.charts.push(chart);
    return chart;
  }

  close(): void {
    clearInterval(this.refresh);
    this.stopListening();
  }
}

/** One chart of a {@link LiveSession}. */
export class LiveChart {
  /** Start of the bucket current when the chart was added: the backfill ends before it. */
  readonly cut: number;
  /** The first bucket the live aggregator owns (≤ cut): live points before it are the backfill's. */
  readonly floor: number;

  constructor(
    private readonly db: Db,
    private readonly tenantId: string,
    readonly input: LiveChartInput,
    readonly aggregator: LiveAggregator,
    now: number,
  ) {
    this.cut = bucketStart(now, input.stepMs);
    this.floor = Math.min(this.cut, bucketStart(this.cut - LATE_POINTS_MS, input.stepMs));
    // Synchronously with the listener registration: no await between the two.
    aggregator.startAt(this.floor);
  }

  /**
   * Where this chart's backfill begins: its window, or from `resumeFrom` (a
   * reconnecting client's last event id) when that is later; never after `cut`.
   */
  backfillFrom(resumeFrom: number | null): number {
    const windowStart = this.cut - this.input.windowMs;
    const from = resumeFrom !== null && Number.isFinite(resumeFrom) ? Math.max(bucketStart(resumeFrom, this.input.stepMs), windowStart) : windowStart;
    return Math.min(from, this.cut);
  }

  /**
   * The chart's history from Postgres: complete buckets `[from, cut)`. Then the
   * stored points since `floor` are fed to the live aggregator, so its first
   * buckets are whole (they overlap the backfill's last ones and replace them).
   * A service error names the chart by `key` when given.
   */
  async backfill(from: number, key?: string): Promise<Extract<LiveEvent, { kind: "backfill" }>> {
    try {
      const range = from < this.cut ? await queryRange(this.db, this.tenantId, { ...this.input, from, to: this.cut }) : { series: [], tier: "raw" };
      // After the range query: a point stored in between is then in one of the two.
      await this.seed();
      return { kind: "backfill", series: range.series, stepMs: this.input.stepMs, tier: range.tier };
    } catch (err) {
      if (key !== undefined && err instanceof ServiceError) throw new ServiceError(err.code, `chart "${key}": ${err.message}`, { cause: err });
      throw err;
    }
  }

  /** The buckets that changed since the last call and the newest of them, or null when nothing changed. */
  take(): { series: { labels: Labels; points: RangePoint[] }[]; newest: number } | null {
    if (!this.aggregator.dirty) return null;
    const series = this.aggregator.take();
    let newest = -Infinity;
    for (const s of series) for (const [ts] of s.points) if (ts > newest) newest = ts;
    return series.length > 0 ? { series, newest } : null;
  }

  /** Feed the stored points since `floor` of the series this chart shows (the selectors run in SQL, as in the range query). */
  private async seed(): Promise<void> {
    const { filters, agentJoin } = seriesFilters(this.tenantId, this.input);
    filters.push(sql`x.ts >= ${this.floor}`);
    const rows = await this.db.execute<{ agent_id: string; probe: string; kind: "gauge" | "counter"; labels: Labels; points: [number, number][] }>(sql`
      select s.agent_id, s.probe, s.kind, s.labels, json_agg(json_build_array(x.ts, x.value) order by x.ts) as points
      from series s join samples x on x.series_id = s.id ${agentJoin}
      where ${sql.join(filters, sql` and `)}
      group by s.id`);
    for (const r of rows) {
      this.aggregator.seed(r.agent_id, r.probe, { metric: this.input.metric, kind: r.kind, labels: r.labels, points: r.points.map(([t, v]) => [Number(t), Number(v)]) });
    }
  }
}

async function loadAgentLabels(db: Db, tenantId: string): Promise<Map<string, Labels>> {
  const rows = await db.select({ id: agents.id, labels: agents.labels }).from(agents).where(eq(agents.tenantId, tenantId));
  return new Map(rows.map((r) => [r.id, r.labels]));
}

/** Wait `ms`, or less if `signal` aborts; the abort listener goes with the timer (a stream sleeps 10 times a second for hours). */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
