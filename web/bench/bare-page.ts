/**
 * Benchmark page (b): the baseline. 32 bare uPlot instances of the same size,
 * series count, palette and time axis as the app's charts, each given the same
 * data with `setData` once a second (push the new point, shift the ones that left the window),
 * with nothing else around them: what uPlot alone costs.
 */
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import "../src/styles/theme.css";
import "./bench.css";
import { installHarness } from "./harness.ts";
import { CHARTS, PLOT_HEIGHT, SERIES, SyntheticData, WINDOW_MS } from "./synthetic.ts";

const data = new SyntheticData();
const history = data.history();
const css = getComputedStyle(document.documentElement);
const palette = Array.from({ length: SERIES }, (_, s) => css.getPropertyValue(`--s${s + 1}`).trim());
const axis = { stroke: css.getPropertyValue("--text-dim").trim(), grid: { stroke: css.getPropertyValue("--border").trim(), width: 1 } };

const grid = document.createElement("div");
grid.className = "chart-group bench-grid";
document.getElementById("app")!.append(grid);

const charts: { plot: uPlot; columns: number[][] }[] = [];
for (let c = 0; c < CHARTS; c++) {
  // The same figure and caption as a TimeChart, so that the canvases are the same size.
  const figure = document.createElement("figure");
  figure.className = "chart";
  figure.innerHTML = `<figcaption><span class="chart-title">Chart ${c + 1}</span></figcaption>`;
  const target = document.createElement("div");
  figure.append(target);
  grid.append(figure);
  const columns = [history.xs.slice(), ...history.ys[c]!.map((ys) => ys.slice())];
  const plot = new uPlot(
    {
      width: Math.floor(target.clientWidth),
      height: PLOT_HEIGHT,
      ms: 1,
      series: [{}, ...palette.map((stroke, s) => ({ label: `series=s${s}`, stroke, width: 1.25 }))],
      axes: [axis, axis],
    },
    columns as uPlot.AlignedData,
    target,
  );
  charts.push({ plot, columns });
}

function deliver(): void {
  let newest = 0;
  data.advance((ts) => {
    newest = ts;
    for (let c = 0; c < charts.length; c++) {
      const { columns } = charts[c]!;
      columns[0]!.push(ts);
      for (let s = 0; s < SERIES; s++) columns[s + 1]!.push(data.value(c, s));
    }
  });
  for (let c = 0; c < charts.length; c++) {
    const { plot, columns } = charts[c]!;
    // The rolling window, as the app keeps it: drop what fell out of the last hour.
    while (columns[0]![0]! < newest - WINDOW_MS) for (const column of columns) column.shift();
    plot.setData(columns as uPlot.AlignedData);
  }
}

installHarness({
  deliver,
  ready: () => charts.length === CHARTS,
  info: () => ({ charts: charts.length, minPoints: Math.min(...charts.map((c) => c.columns[0]!.length)), maxPoints: Math.max(...charts.map((c) => c.columns[0]!.length)) }),
});
