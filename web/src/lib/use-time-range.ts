import { useSearchParams } from "@solidjs/router";
import { createMemo } from "solid-js";
import { timeRangeFromParams, timeRangeToParams, type TimeRange } from "./time-range.ts";

/** The page's time range, kept in the URL (`range=15m` or `from=…&to=…`). */
export function useTimeRange(): [() => TimeRange, (range: TimeRange) => void] {
  const [params, setParams] = useSearchParams<{ range?: string; from?: string; to?: string }>();
  const range = createMemo(() => timeRangeFromParams({ range: params.range, from: params.from, to: params.to }), undefined, {
    equals: (a, b) => JSON.stringify(a) === JSON.stringify(b),
  });
  return [range, (r) => setParams(timeRangeToParams(r), { replace: false })];
}
