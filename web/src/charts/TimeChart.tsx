// STUB — replaced by the uPlot implementation.
import type { TimeChartProps } from "./chart-types.ts";

export function TimeChart(props: TimeChartProps) {
  return (
    <figure class="chart" data-chart={props.title} data-points="0">
      <figcaption>{props.title}</figcaption>
    </figure>
  );
}
