import type { TimeRange } from "../lib/time-range.ts";

/** Aggregations the API offers (telemetry.range / telemetry.live `agg`). */
export type Aggregation = "avg" | "sum" | "min" | "max" | "count" | "rate";

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
  children: import("solid-js").JSX.Element;
};

/** Props of `<TimeChart>` (inside a `<ChartGroup>`). */
export type TimeChartProps = ChartQuery & {
  title: string;
  /** Catalog unit of the metric ("ratio", "bytes", "seconds", "us"…), for the axis and legend. */
  unit?: string | null;
  height?: number;
  /** Stack series (e.g. CPU by mode). */
  stacked?: boolean;
};
