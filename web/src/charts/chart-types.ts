import type { TimeRange } from "../lib/time-range.ts";

import type { Aggregation } from "@probepilot/shared";

/** Aggregations the API offers (telemetry.range / telemetry.live `agg`). */
export type { Aggregation };

/**
 * What one time chart shows: a metric over the agents a selector matches,
 * aggregated per step and per group of `by` label keys — the same shape as
 * `telemetry.range` / `telemetry.liveMany`'s chart input.
 */
export type ChartQuery = {
  metric: string;
  agentSelector?: string;
  seriesSelector?: string;
  agg?: Aggregation;
  by?: string[];
};

/** Props of `<ChartGroup>`: the charts inside share one live stream, one cursor and the annotations. */
export type ChartGroupProps = {
  /** Live window or fixed range; usually from the page's TimePicker (URL state). */
  range: TimeRange;
  /** Draw rollout transitions that touched the charted agents (default true). */
  annotations?: boolean;
  /**
   * Where the charts' data comes from; default {@link trpcSource} (one
   * `telemetry.liveMany` stream while live, `telemetry.range` per chart when fixed).
   * The UI benchmark passes a synthetic source through the same components.
   */
  source?: ChartSource;
  /**
   * A fixed drawing budget per slice in ms, instead of the one the group learns
   * (10 ms with the canvas flush that follows the drawing: `SLICE_TARGET_MS` in
   * ChartGroup.tsx); `Infinity` draws every chart that has news in one go.
   */
  frameBudgetMs?: number;
  /** Extra class on the group's grid (e.g. a page's own column layout). */
  class?: string;
  children: import("solid-js").JSX.Element;
};

/** Props of `<TimeChart>` (inside a `<ChartGroup>`). */
export type TimeChartProps = ChartQuery & {
  title: string;
  /** Catalog unit of the metric ("ratio", "bytes", "seconds", "us"…), for the axis and legend. */
  unit?: string | null;
  /** Height of the plot (canvas with its axes, without title and legend) in CSS pixels; default 150. */
  height?: number;
  /** Stack series (e.g. CPU by mode). */
  stacked?: boolean;
};

/** One point of a series: bucket start (Unix ms) and value (null: no sample in the bucket). */
export type SeriesPoint = [ts: number, value: number | null];

/** One group of a chart: its `by` label values and its points, oldest first. */
export type SeriesData = { labels: Record<string, string>; points: SeriesPoint[] };

/** A chart as the live stream asks for it (`telemetry.liveMany`'s `charts[]` item). */
export type LiveChartSpec = {
  /** Unique within the stream; events name the chart they belong to by it. */
  key: string;
  metric: string;
  agentSelector?: string;
  seriesSelector?: string;
  stepMs: number;
  agg: Aggregation;
  by: string[];
  /** How much history the backfill carries. */
  windowMs: number;
};

/**
 * What the live stream says about one chart: first a backfill (the window so
 * far), then updates of the current bucket(s). A point whose timestamp the
 * chart already has replaces it; a backfill after a reconnect may overlap what
 * the chart has and is merged by timestamp.
 */
export type ChartEvent =
  | { kind: "backfill"; series: SeriesData[]; stepMs: number; tier?: string }
  | { kind: "update"; series: SeriesData[] };

/** A fixed-range request for one chart (`telemetry.range`'s input). */
export type RangeRequest = Omit<LiveChartSpec, "key" | "windowMs"> & { from: number; to: number };

/** A rollout transition drawn on time charts (`rollouts.annotations` item). */
export type Annotation = {
  ts: number;
  rolloutId: string;
  probe: string;
  version: number;
  /** e.g. "wave_started", "paused", "rolled_back", "completed". */
  kind: string;
  text: string;
  /** How many of the selector's agents the rollout touched. */
  agents: number;
};

/** Callbacks of one live subscription. */
export type ChartStreamHandlers = {
  /** An event for the chart with this key (may be called many times per tick). */
  onEvent(key: string, event: ChartEvent): void;
  /** The stream failed for good (the source retried what it could); charts show the error with a retry button. */
  onError(error: unknown): void;
};

/**
 * Where a chart group's data comes from. The app's default talks to the control
 * plane; the benchmark's is synthetic. A source is stateless from the group's
 * point of view: the group decides when to (re)subscribe.
 */
export interface ChartSource {
  /** One live stream for all these charts (at most 64); returns the unsubscriber. */
  subscribe(charts: LiveChartSpec[], handlers: ChartStreamHandlers): () => void;
  /** One chart over a fixed range. */
  range(request: RangeRequest, signal: AbortSignal): Promise<{ series: SeriesData[]; stepMs: number }>;
  /** Rollout transitions that touched the agents a selector matches, in a range (optional: no annotations without it). */
  annotations?(request: { agentSelector?: string; from: number; to: number }, signal: AbortSignal): Promise<Annotation[]>;
}
