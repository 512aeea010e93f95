import { api } from "../api/client.ts";
import type { ChartSource } from "./chart-types.ts";

/**
 * The app's chart source: the control plane over tRPC. Live charts share one SSE
 * stream (`telemetry.liveMany`; tRPC's SSE link reconnects by itself and resumes
 * from the last event id, the server then resends an overlapping backfill that
 * the store merges by timestamp); a fixed range is one `telemetry.range` query
 * per chart (batched into one request by the client); annotations are
 * `rollouts.annotations`.
 */
export const trpcSource: ChartSource = {
  subscribe(charts, handlers) {
    const subscription = api.telemetry.liveMany.subscribe(
      { charts },
      {
        // Tracked events arrive as { id, data }: the link keeps the id for resuming.
        onData: (tracked) => handlers.onEvent(tracked.data.key, tracked.data.event),
        onError: (err) => handlers.onError(err),
      },
    );
    return () => subscription.unsubscribe();
  },

  async range(request, signal) {
    const result = await api.telemetry.range.query(request, { signal });
    return { series: result.series, stepMs: result.stepMs };
  },

  async annotations(request, signal) {
    const result = await api.rollouts.annotations.query(request, { signal });
    return result.items;
  },
};
