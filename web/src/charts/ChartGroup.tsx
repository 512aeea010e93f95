// STUB — replaced by the charts implementation (live stream per group, cursor sync, annotations).
import type { ChartGroupProps } from "./chart-types.ts";

export function ChartGroup(props: ChartGroupProps) {
  return <div class="chart-group">{props.children}</div>;
}
