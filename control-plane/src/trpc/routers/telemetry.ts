import { z } from "zod";
import { LabelKeySchema, SelectorStringSchema } from "@probepilot/shared";
import { router, protectedProcedure } from "../init.ts";
import { queryRange, AGGREGATIONS, MAX_GROUP_BY_KEYS, MAX_SERIES } from "../../services/telemetry/query-range.ts";
import { listMetrics } from "../../services/telemetry/list-metrics.ts";
import { watchLive } from "../../services/telemetry/watch-live.ts";

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** Unix milliseconds; the CLI and UI turn relative times ("5m ago") into these. */
const UnixMs = (what: string) =>
  z
    .number({ error: `${what} must be a number of Unix milliseconds` })
    .nonnegative(`${what} must be Unix milliseconds (≥ 0)`)
    .refine(Number.isSafeInteger, `${what} must be a whole number of Unix milliseconds`);

/** `telemetry.range` input, exported so that procedures over the same query shape can validate it alike. */
export const RangeInputSchema = z
  .object({
    metric: z.string().regex(METRIC_NAME, "metric names follow Prometheus rules: [a-zA-Z_:][a-zA-Z0-9_:]*"),
    agentSelector: SelectorStringSchema.optional(),
    seriesSelector: SelectorStringSchema.optional(),
    from: UnixMs("from"),
    to: UnixMs("to"),
    stepMs: z
      .number({ error: "stepMs must be a number of milliseconds" })
      .positive("stepMs must be at least 1 ms")
      .refine(Number.isSafeInteger, "stepMs must be a whole number of milliseconds"),
    agg: z.enum(AGGREGATIONS, { error: `agg must be one of ${AGGREGATIONS.join(", ")}` }).default("avg"),
    by: z.array(LabelKeySchema).max(MAX_GROUP_BY_KEYS, `group by at most ${MAX_GROUP_BY_KEYS} label keys`).default([]),
    limitSeries: z
      .number()
      .int("limitSeries must be a whole number")
      .min(1, "limitSeries must be at least 1")
      .max(MAX_SERIES, `limitSeries must be at most ${MAX_SERIES}`)
      .default(MAX_SERIES),
  })
  .refine((i) => i.to > i.from, { message: "to must be after from", path: ["to"] });

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
          prefix: z.string().max(200, "prefix must be at most 200 characters").optional(),
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
    .input(
      z.object({
        metric: z.string().regex(METRIC_NAME, "metric names follow Prometheus rules: [a-zA-Z_:][a-zA-Z0-9_:]*"),
        agentSelector: SelectorStringSchema.optional(),
        seriesSelector: SelectorStringSchema.optional(),
        stepMs: z.number().int("stepMs must be a whole number of milliseconds").min(100, "stepMs must be at least 100 ms").max(3_600_000, "stepMs must be at most 1 h"),
        agg: z.enum(AGGREGATIONS, { error: `agg must be one of ${AGGREGATIONS.join(", ")}` }).default("avg"),
        by: z.array(LabelKeySchema).max(MAX_GROUP_BY_KEYS, `group by at most ${MAX_GROUP_BY_KEYS} label keys`).default([]),
        windowMs: z.number().int().min(0).max(24 * 3_600_000, "windowMs must be at most 24 h").default(15 * 60_000),
        lastEventId: z.string().nullish(),
      }),
    )
    .subscription(({ ctx, input, signal }) => watchLive(ctx.db, ctx.tap, ctx.principal.tenantId, input, signal ?? new AbortController().signal)),
});
