import { createContext, useContext } from "solid-js";
import type { TimeRange } from "../lib/time-range.ts";
import type { Aggregation, Annotation } from "./chart-types.ts";
import type { SeriesStore } from "./series-store.ts";

/** A chart's query with the defaults applied (what the group sends to its source). */
export type ResolvedQuery = {
  metric: string;
  agentSelector?: string;
  seriesSelector?: string;
  agg: Aggregation;
  by: string[];
};

/** Where a chart stands: waiting for its first data, showing data, or failed. */
export type ChartPhase = "loading" | "ready" | "error";

/** A chart as its group sees it: the group feeds the store and asks for renders. */
export type ChartEntry = {
  /** Unique within the group (and its stream). */
  readonly key: string;
  readonly query: ResolvedQuery;
  readonly store: SeriesStore;
  /** Hand the store's data to uPlot; the group calls it at most once per frame per chart. */
  render(): void;
  /** Phase changes (not per event); `error` comes with what failed. */
  setPhase(phase: ChartPhase, error?: unknown): void;
  /** `performance.now()` of the last render (the group re-renders a live chart that stopped getting data, so that its window still moves). */
  lastRender: number;
};

/** What `<ChartGroup>` offers the charts inside it. */
export type ChartGroupApi = {
  /** Add a chart; returns the remover. The group (re)connects once registrations settle. */
  register(entry: ChartEntry): () => void;
  /** Ask for a render of this chart in the group's next frame. */
  markDirty(entry: ChartEntry): void;
  /** The x range to show now: a live window ends at the clock (or just after `lastTs`, the chart's newest bucket, if the server's clock is ahead). */
  xRange(lastTs?: number): [number, number];
  /** The bucket width of the group's charts now (ms): 1 s while live up to 1 h, else the range's step. */
  stepMs(): number;
  /** The group's range (reactive). */
  range(): TimeRange;
  /** uPlot cursor sync key shared by the group's charts. */
  readonly syncKey: string;
  /** Rollout transitions for an agent selector (reactive). */
  annotations(agentSelector: string | undefined): readonly Annotation[];
  /** Why the annotations could not be loaded (reactive), null when they were. */
  annotationsError(): unknown;
  /** The live stream failed (reactive): every chart of the group shows it. */
  streamError(): unknown;
  /** Reconnect after an error (the charts' Retry button). */
  retry(): void;
  /** Unique key for the next chart registered. */
  nextKey(): string;
};

export const ChartGroupContext = createContext<ChartGroupApi>();

/** The enclosing chart group; a TimeChart outside one is a programming error, said plainly. */
export function useChartGroup(): ChartGroupApi {
  const group = useContext(ChartGroupContext);
  if (!group) throw new Error("<TimeChart> must be placed inside a <ChartGroup range={…}>: the group owns the live stream, the cursor sync and the annotations");
  return group;
}
