import { z } from "zod";
import { SeriesLabelsSchema } from "./labels.ts";

/**
 * The versioned telemetry batch envelope (data flow 3 in the brief).
 *
 * One batch carries what one probe on one agent produced in about a second.
 * `(agentId, probe, seq)` identifies a batch: the ingester's ledger uses it to
 * make re-delivery harmless, so `seq` must be monotonic per (agent, probe).
 */
export const TELEMETRY_ENVELOPE_VERSION = 1 as const;

/** Max encoded size of one batch (below NATS's default 1 MiB payload limit); larger batches are dead-lettered by the ingester. */
export const MAX_TELEMETRY_BATCH_BYTES = 512 * 1024;

/** A point is `[unixMillis, value]`: tuples keep the JSON small. */
export const PointSchema = z.tuple([z.number().int().nonnegative(), z.number().finite()]);
export type Point = z.infer<typeof PointSchema>;

export const MetricKindSchema = z.enum(["gauge", "counter"]);
export type MetricKind = z.infer<typeof MetricKindSchema>;

/** One series of a gauge or counter: a metric name, its series labels and its points. */
export const MetricSeriesSchema = z.object({
  metric: z.string().regex(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/, "metric names follow Prometheus rules: [a-zA-Z_:][a-zA-Z0-9_:]*"),
  kind: MetricKindSchema,
  /** Unit of the values, e.g. "ratio", "bytes", "bytes/s", "count". */
  unit: z.string().max(32).optional(),
  labels: SeriesLabelsSchema,
  points: z.array(PointSchema).min(1),
});
export type MetricSeries = z.infer<typeof MetricSeriesSchema>;

/** A log2-bucketed histogram snapshot: `buckets[i]` counts values in [2^i, 2^(i+1)). */
export const HistogramSchema = z.object({
  metric: z.string().min(1),
  unit: z.string().max(32).optional(),
  labels: SeriesLabelsSchema,
  at: z.number().int().nonnegative(),
  buckets: z.array(z.number().int().nonnegative()).max(64),
  sum: z.number().finite(),
  count: z.number().int().nonnegative(),
});
export type Histogram = z.infer<typeof HistogramSchema>;

/** A discrete event (exec, exit, file open, OOM kill, …) with typed attributes. */
export const TelemetryEventSchema = z.object({
  name: z.string().min(1),
  at: z.number().int().nonnegative(),
  attrs: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])),
});
export type TelemetryEvent = z.infer<typeof TelemetryEventSchema>;

/** CPU-profile folded stacks (`frame;frame;frame`) with sample counts. */
export const ProfileStacksSchema = z.object({
  at: z.number().int().nonnegative(),
  pid: z.number().int().nonnegative(),
  comm: z.string(),
  stacks: z.array(z.tuple([z.string(), z.number().int().positive()])),
});
export type ProfileStacks = z.infer<typeof ProfileStacksSchema>;

export const TelemetryBatchSchema = z.object({
  v: z.literal(TELEMETRY_ENVELOPE_VERSION),
  tenantId: z.string().min(1),
  agentId: z.string().min(1),
  probe: z.string().min(1),
  probeVersion: z.string().min(1),
  seq: z.number().int().nonnegative(),
  sentAt: z.number().int().nonnegative(),
  series: z.array(MetricSeriesSchema).default([]),
  histograms: z.array(HistogramSchema).default([]),
  events: z.array(TelemetryEventSchema).default([]),
  profiles: z.array(ProfileStacksSchema).default([]),
});
export type TelemetryBatch = z.infer<typeof TelemetryBatchSchema>;

/** Aggregations of a range or live query (`agg`): per step and group, over the matching series. */
export const AGGREGATIONS = ["avg", "min", "max", "sum", "count", "rate"] as const;
export type Aggregation = (typeof AGGREGATIONS)[number];

/** Most charts one `telemetry.liveMany` stream carries (a page with more opens several streams). */
export const MAX_LIVE_CHARTS = 64;
