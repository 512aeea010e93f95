import type { Histogram, MetricSeries, ProfileStacks, TelemetryEvent } from "@probepilot/shared";

/** What a probe emits for one interval: the parts of a telemetry batch (the publisher adds the envelope). */
export type TelemetryContent = {
  series?: MetricSeries[];
  histograms?: Histogram[];
  events?: TelemetryEvent[];
  profiles?: ProfileStacks[];
};
