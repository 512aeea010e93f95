/**
 * Benchmark page (a): the app's own ChartGroup and TimeCharts, fed by a
 * synthetic ChartSource through the same code path as the control plane's
 * stream (backfill, then one update event per chart per second).
 */
import { render } from "solid-js/web";
import { For } from "solid-js";
import "uplot/dist/uPlot.min.css";
import "../src/styles/theme.css";
import "./bench.css";
import { ChartGroup } from "../src/charts/ChartGroup.tsx";
import { TimeChart } from "../src/charts/TimeChart.tsx";
import type { Annotation, ChartSource, ChartStreamHandlers, LiveChartSpec, SeriesPoint } from "../src/charts/chart-types.ts";
import { installHarness } from "./harness.ts";
import { CHARTS, PLOT_HEIGHT, SERIES, STEP_MS, SyntheticData, WINDOW_MS } from "./synthetic.ts";

/** `?budget=<ms>` (UI_BENCH_FRAME_BUDGET): the group's frame budget, to measure without time slicing (`Infinity`). */
const budgetParam = new URLSearchParams(location.search).get("budget");
const frameBudgetMs = budgetParam === null ? undefined : Number(budgetParam);

const data = new SyntheticData();
const history = data.history();
const chartIndex = (spec: LiveChartSpec) => Number(spec.metric.slice("bench_metric_".length));

let stream: { charts: LiveChartSpec[]; handlers: ChartStreamHandlers } | null = null;

const source: ChartSource = {
  subscribe(charts, handlers) {
    const current = (stream = { charts, handlers });
    // Like the server: one backfill event per chart, after the request went out.
    setTimeout(() => {
      if (stream !== current) return;
      for (const spec of charts) {
        const c = chartIndex(spec);
        handlers.onEvent(spec.key, {
          kind: "backfill",
          stepMs: STEP_MS,
          series: history.ys[c]!.map((ys, s) => ({ labels: { series: `s${s}` }, points: history.xs.map((x, k): SeriesPoint => [x, ys[k]!]) })),
        });
      }
    }, 0);
    return () => {
      if (stream === current) stream = null;
    };
  },
  range: () => Promise.reject(new Error("the benchmark's source is live only")),
  // Two rollout transitions in the window, so that every chart draws annotations as the app's do.
  annotations: async (): Promise<Annotation[]> => [
    { ts: history.xs[1200]!, rolloutId: "rol_bench", probe: "tcp_flows", version: 3, kind: "wave_started", text: "wave 2 started (10%)", agents: 4 },
    { ts: history.xs[2400]!, rolloutId: "rol_bench", probe: "tcp_flows", version: 3, kind: "paused", text: "paused by operator", agents: 4 },
  ],
};

function deliver(): void {
  const charts = stream?.charts ?? [];
  const points: SeriesPoint[][][] = charts.map(() => Array.from({ length: SERIES }, () => []));
  data.advance((ts) => {
    for (let i = 0; i < charts.length; i++) {
      const c = chartIndex(charts[i]!);
      for (let s = 0; s < SERIES; s++) points[i]![s]!.push([ts, data.value(c, s)]);
    }
  });
  // One update event per chart, fresh objects as a decoded SSE message would be.
  for (let i = 0; i < charts.length; i++) {
    stream!.handlers.onEvent(charts[i]!.key, { kind: "update", series: points[i]!.map((p, s) => ({ labels: { series: `s${s}` }, points: p })) });
  }
}

const points = () => [...document.querySelectorAll("figure[data-chart]")].map((f) => Number(f.getAttribute("data-points")));

installHarness({
  deliver,
  ready: () => {
    const p = points();
    // Every chart has drawn its backfill (less what the clock moved out of the window since).
    return p.length === CHARTS && p.every((n) => n >= history.xs.length - 120);
  },
  info: () => ({ charts: points().length, minPoints: Math.min(...points()), maxPoints: Math.max(...points()) }),
});

render(
  () => (
    <ChartGroup range={{ kind: "live", windowMs: WINDOW_MS }} source={source} frameBudgetMs={frameBudgetMs} class="bench-grid">
      <For each={Array.from({ length: CHARTS }, (_, i) => i)}>
        {(i) => <TimeChart title={`Chart ${i + 1}`} metric={`bench_metric_${i}`} by={["series"]} unit="bytes" height={PLOT_HEIGHT} />}
      </For>
    </ChartGroup>
  ),
  document.getElementById("app")!,
);
