import { z } from "zod";
import { ATTR_VALUE_MAX_LENGTH, LabelKeySchema, MAX_LIVE_CHARTS, SelectorStringSchema, WIRE_NAME_MAX_LENGTH, boundedArray, boundedRecord, idSchema, tooMany } from "@probepilot/shared";
import { mapStreamErrors } from "../error-adapter.ts";
import { UnixMs, queryText } from "../input-schemas.ts";
import { router, protectedProcedure } from "../init.ts";
import { queryRange, AGGREGATIONS, MAX_GROUP_BY_KEYS, MAX_POINTS_PER_SERIES, MAX_SERIES } from "../../services/telemetry/query-range.ts";
import { listMetrics } from "../../services/telemetry/list-metrics.ts";
import { watchLive } from "../../services/telemetry/watch-live.ts";
import { duplicateKey, watchLiveMany } from "../../services/telemetry/watch-live-many.ts";
import { queryHistogram, DEFAULT_PERCENTILES, MAX_PERCENTILES } from "../../services/telemetry/query-histogram.ts";
import { listEvents, MAX_ATTR_FILTERS, MAX_EVENTS_PAGE } from "../../services/telemetry/list-events.ts";
import { mergeProfile, MAX_PROFILE_STACKS } from "../../services/telemetry/merge-profile.ts";

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** A gauge or counter metric name (Prometheus rules), at most 200 characters. */
const MetricNameSchema = z
  .string()
  .max(WIRE_NAME_MAX_LENGTH, `metric names are at most ${WIRE_NAME_MAX_LENGTH} characters`)
  .regex(METRIC_NAME, "metric names follow Prometheus rules: [a-zA-Z_:][a-zA-Z0-9_:]*");

/** Label keys to group by, at most MAX_GROUP_BY_KEYS (counted before the keys are checked). */
const GroupBySchema = boundedArray(z.array(LabelKeySchema), MAX_GROUP_BY_KEYS, (n) => `group by ${tooMany(`${MAX_GROUP_BY_KEYS} label keys`, n)}`);

/** One live chart's query (`telemetry.live`, and each chart of `telemetry.liveMany`). */
const LiveChartSchema = z.object({
  metric: MetricNameSchema,
  agentSelector: SelectorStringSchema.optional(),
  seriesSelector: SelectorStringSchema.optional(),
  stepMs: z.number().int("stepMs must be a whole number of milliseconds").min(100, "stepMs must be at least 100 ms").max(3_600_000, "stepMs must be at most 1 h"),
  agg: z.enum(AGGREGATIONS, { error: `agg must be one of ${AGGREGATIONS.join(", ")}` }).default("avg"),
  by: GroupBySchema.default([]),
  windowMs: z.number().int().min(0).max(24 * 3_600_000, "windowMs must be at most 24 h").default(15 * 60_000),
});

/**
 * A live chart's backfill is a range query over its window: refuse a window with
 * more buckets than a range query returns up front, rather than once the stream runs.
 */
function checkWindowPoints(chart: { stepMs: number; windowMs: number }, ctx: z.RefinementCtx, path: (string | number)[] = []): void {
  // One bucket more than the window holds when it does not start on a step boundary.
  const max = MAX_POINTS_PER_SERIES - 1;
  const points = Math.ceil(chart.windowMs / chart.stepMs);
  if (points > max) {
    ctx.addIssue({ code: "custom", path: [...path, "windowMs"], message: `a window of ${chart.windowMs} ms at step ${chart.stepMs} ms is ${points} points; at most ${max}: use a step of at least ${Math.ceil(chart.windowMs / max)} ms or a shorter window` });
  }
}

/** The id of the last event a reconnecting client received (tRPC's SSE link sends it). */
const LastEventIdSchema = z.string().max(64, "lastEventId is the id of an event this stream sent").nullish();

/** A chart's name within a `telemetry.liveMany` stream: events carry it back. */
const ChartKeySchema = z
  .string({ error: "each chart needs a key (a string naming it within the stream)" })
  .min(1, "a chart key must not be empty")
  .max(200, "a chart key must be at most 200 characters");

/** `telemetry.range` input, exported so that procedures over the same query shape can validate it alike. */
export const RangeInputSchema = z
  .object({
    metric: MetricNameSchema,
    agentSelector: SelectorStringSchema.optional(),
    seriesSelector: SelectorStringSchema.optional(),
    from: UnixMs("from"),
    to: UnixMs("to"),
    stepMs: z
      .number({ error: "stepMs must be a number of milliseconds" })
      .positive("stepMs must be at least 1 ms")
      .refine(Number.isSafeInteger, "stepMs must be a whole number of milliseconds"),
    agg: z.enum(AGGREGATIONS, { error: `agg must be one of ${AGGREGATIONS.join(", ")}` }).default("avg"),
    by: GroupBySchema.default([]),
    limitSeries: z
      .number()
      .int("limitSeries must be a whole number")
      .min(1, "limitSeries must be at least 1")
      .max(MAX_SERIES, `limitSeries must be at most ${MAX_SERIES}`)
      .default(MAX_SERIES),
  })
  .refine((i) => i.to > i.from, { message: "to must be after from", path: ["to"] });

/** A range `[from, to)` in Unix ms, shared by the histogram, events and profile inputs. */
const TimeRange = { from: UnixMs("from"), to: UnixMs("to") };

/** A name as agents send it (histogram metrics and event names are free-form on the wire, unlike gauge metrics). */
const WireName = (what: string) => queryText(what, { max: WIRE_NAME_MAX_LENGTH });

/** `telemetry.histogram` input. */
export const HistogramInputSchema = z
  .object({
    metric: WireName("metric"),
    agentSelector: SelectorStringSchema.optional(),
    seriesSelector: SelectorStringSchema.optional(),
    ...TimeRange,
    stepMs: z
      .number({ error: "stepMs must be a number of milliseconds" })
      .positive("stepMs must be at least 1 ms")
      .refine(Number.isSafeInteger, "stepMs must be a whole number of milliseconds"),
    percentiles: boundedArray(
      z
        .array(z.number({ error: "a percentile must be a number" }).min(0, "percentiles are from 0 to 100").max(100, "percentiles are from 0 to 100 (99.9 for p99.9)"))
        .min(1, "ask for at least one percentile, e.g. [50, 90, 99]"),
      MAX_PERCENTILES,
      (n) => `ask for ${tooMany(`${MAX_PERCENTILES} percentiles`, n)}`,
    ).default([...DEFAULT_PERCENTILES]),
  })
  .refine((i) => i.to > i.from, { message: "to must be after from", path: ["to"] });

/** `telemetry.events` input. */
export const EventsInputSchema = z
  .object({
    ...TimeRange,
    name: WireName("name").optional(),
    probe: WireName("probe").optional(),
    agentSelector: SelectorStringSchema.optional(),
    attrs: boundedRecord(
      z.record(
        WireName("an attribute key"),
        z.union([queryText("an attribute value", { min: 0, max: ATTR_VALUE_MAX_LENGTH }), z.number(), z.boolean(), z.null()], {
          error: "attribute values are strings, finite numbers, booleans or null",
        }),
      ),
      MAX_ATTR_FILTERS,
      (n) => `filter on ${tooMany(`${MAX_ATTR_FILTERS} attributes`, n)}`,
    ).optional(),
    limit: z
      .number({ error: "limit must be a number" })
      .int("limit must be a whole number")
      .min(1, "limit must be at least 1")
      .max(MAX_EVENTS_PAGE, `limit must be at most ${MAX_EVENTS_PAGE}`)
      .default(100),
    /** The previous page's `nextCursor`. */
    cursor: z.string().max(200, "cursor must be at most 200 characters: pass the previous page's nextCursor").optional(),
  })
  .refine((i) => i.to > i.from, { message: "to must be after from", path: ["to"] });

/** `telemetry.profile` input. */
export const ProfileInputSchema = z
  .object({
    agentId: idSchema("agent").optional(),
    agentSelector: SelectorStringSchema.optional(),
    ...TimeRange,
    pid: z.number({ error: "pid must be a number" }).int("pid must be a whole number").min(0, "pid must be ≥ 0").max(2 ** 31 - 1, "pid must fit in 32 bits").optional(),
    comm: queryText("comm", { min: 0, max: 64 }).optional(),
    limit: z
      .number({ error: "limit must be a number" })
      .int("limit must be a whole number")
      .min(1, "limit must be at least 1")
      .max(MAX_PROFILE_STACKS, `limit must be at most ${MAX_PROFILE_STACKS} stacks`)
      .default(MAX_PROFILE_STACKS),
  })
  .refine((i) => i.to > i.from, { message: "to must be after from", path: ["to"] })
  .refine((i) => i.agentId === undefined || i.agentSelector === undefined, { message: "give agentId (one agent) or agentSelector (a set of agents), not both", path: ["agentSelector"] });

export const telemetryRouter = router({
  /**
   * A metric over a time range, aggregated per step and per group of `by` labels
   * (series labels first, then agent labels). Picks the raw or a rollup tier from
   * the step; see `services/telemetry/query-range.ts` for the exact semantics.
   */
  range: protectedProcedure.input(RangeInputSchema).query(({ ctx, input }) => queryRange(ctx.db, ctx.principal.tenantId, input)),

  /** The metric catalog (names, kinds, units, label keys, series counts), for pickers. */
  metrics: protectedProcedure
    .input(
      z
        .object({
          agentSelector: SelectorStringSchema.optional(),
          prefix: queryText("prefix", { min: 0, max: WIRE_NAME_MAX_LENGTH }).optional(),
        })
        .default({}),
    )
    .query(({ ctx, input }) => listMetrics(ctx.db, ctx.principal.tenantId, input)),

  /**
   * A range query that stays live (SSE): first a backfill of `windowMs` from
   * Postgres, then updates from core NATS, at most 10 a second. Events are tracked
   * by bucket: a client reconnecting with its last event id resumes without a gap.
   */
  live: protectedProcedure
    .input(LiveChartSchema.extend({ lastEventId: LastEventIdSchema }).superRefine((chart, ctx) => checkWindowPoints(chart, ctx)))
    .subscription(({ ctx, input, signal }) => mapStreamErrors(watchLive(ctx.db, ctx.tap, ctx.principal.tenantId, input, ctx.streamSignal ?? signal ?? new AbortController().signal))),

  /**
   * Several live charts in one stream (SSE), for a page of charts: browsers allow 6
   * HTTP/1.1 connections per origin. Each event is `{ key, event }`: one backfill per
   * chart first, then ticks of at most 10 a second carrying one update per chart that
   * changed. Event ids are a resume time; see `services/telemetry/watch-live-many.ts`.
   */
  liveMany: protectedProcedure
    .input(
      z.object({
        charts: boundedArray(
          z
            .array(LiveChartSchema.extend({ key: ChartKeySchema }), { error: "charts must be a list of chart queries, each with a key" })
            .min(1, "give at least one chart")
            .superRefine((charts, ctx) => {
              charts.forEach((chart, i) => checkWindowPoints(chart, ctx, [i]));
              const dup = duplicateKey(charts);
              if (dup !== undefined) ctx.addIssue({ code: "custom", message: `key "${dup}" is used twice; each chart of a stream needs its own key` });
            }),
          MAX_LIVE_CHARTS,
          (n) => `${tooMany(`${MAX_LIVE_CHARTS} charts per stream`, n)}; split a bigger page into several streams`,
        ),
        lastEventId: LastEventIdSchema,
      }),
    )
    .subscription(({ ctx, input, signal }) => mapStreamErrors(watchLiveMany(ctx.db, ctx.tap, ctx.principal.tenantId, input, ctx.streamSignal ?? signal ?? new AbortController().signal))),

  /**
   * Percentiles over time and a heatmap of a log2 histogram metric, merged across
   * the matching series per step; see `services/telemetry/query-histogram.ts` for
   * the delta assumption and the interpolation.
   */
  histogram: protectedProcedure.input(HistogramInputSchema).query(({ ctx, input }) => queryHistogram(ctx.db, ctx.principal.tenantId, input)),

  /** Events in a range, newest first, filtered by name, probe, agents and attribute equality; keyset-paginated. */
  events: protectedProcedure.input(EventsInputSchema).query(({ ctx, input }) => listEvents(ctx.db, ctx.principal.tenantId, input)),

  /** CPU profile: folded stacks merged over a range, by agent(s) and process, top `limit` plus "(other)". */
  profile: protectedProcedure.input(ProfileInputSchema).query(({ ctx, input }) => mergeProfile(ctx.db, ctx.principal.tenantId, input)),
});
