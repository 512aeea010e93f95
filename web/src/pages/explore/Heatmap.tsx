import { createEffect, createMemo, For, onCleanup, onMount } from "solid-js";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { formatSi, formatTime, formatValue } from "../../lib/format.ts";
import { chartTheme } from "../../charts/chart-theme.ts";
import { timeAxisValues } from "../../charts/plot-options.ts";
import { cellAt, colorPosition, colorRamp, isolatedPoints, maxCount, percentileLabel, percentileLines, valueRange, type HeatmapData } from "./heatmap-model.ts";

/** Colour lookup table: one string per level, built once for every heatmap. */
const RAMP = colorRamp(128);
/** Percentile line styles: light and cool against the warm cells, and told apart by dash too (colour-blind safe). */
const LINE_STYLES: { stroke: string; dash?: number[] }[] = [
  { stroke: "#f7fafc" },
  { stroke: "#4fd1c5", dash: [6, 3] },
  { stroke: "#90cdf4", dash: [2, 3] },
  { stroke: "#b794f4", dash: [8, 3, 2, 3] },
];

/**
 * A latency histogram over time as a heatmap: one cell per time bucket × log2
 * value bucket, coloured by its count on a log scale (legend below), with the
 * percentile lines drawn on top as uPlot series and a y axis in the metric's
 * unit on a log2 scale. Hovering a cell shows its time and value range and its
 * count. One uPlot instance per mount, fed by `setData` when the data changes;
 * the cells are painted by a draw hook, under the grid and the lines.
 */
export function Heatmap(props: { data: HeatmapData; unit: string | null; height?: number; label: string }) {
  let host!: HTMLDivElement;
  let tip!: HTMLDivElement;
  let plot: uPlot | undefined;
  // The hooks read the current data from here: setData swaps it without rebuilding the chart.
  let current = props.data;
  let max = maxCount(current.heatmap);
  const top = createMemo(() => maxCount(props.data.heatmap));

  const paintCells = (u: uPlot) => {
    const { ctx } = u;
    const { left, top: bTop, width, height } = u.bbox;
    const step = current.stepMs;
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, bTop, width, height);
    ctx.clip();
    for (const row of current.heatmap) {
      const y0 = Math.round(u.valToPos(row.upper, "y", true));
      const y1 = Math.round(u.valToPos(row.lower, "y", true));
      for (let t = 0; t < row.counts.length; t++) {
        const c = row.counts[t]!;
        if (c <= 0) continue;
        const ts = current.timestamps[t]!;
        const x0 = Math.round(u.valToPos(ts / 1000, "x", true));
        const x1 = Math.round(u.valToPos((ts + step) / 1000, "x", true));
        ctx.fillStyle = RAMP[Math.round(colorPosition(c, max) * (RAMP.length - 1))]!;
        // Rounded edges and at least one device pixel: neighbouring cells meet without seams or gaps.
        ctx.fillRect(x0, y0, Math.max(1, x1 - x0), Math.max(1, y1 - y0));
      }
    }
    ctx.restore();
  };

  const showTip = (u: uPlot) => {
    const { left, top: cTop } = u.cursor;
    if (left === undefined || cTop === undefined || left < 0 || cTop < 0) {
      tip.hidden = true;
      return;
    }
    const cell = cellAt(current, u.posToVal(left, "x") * 1000, u.posToVal(cTop, "y"));
    if (!cell) {
      tip.hidden = true;
      return;
    }
    const share = cell.columnTotal > 0 ? ` (${((100 * cell.count) / cell.columnTotal).toFixed(cell.count / cell.columnTotal < 0.1 ? 1 : 0)}% of the interval)` : "";
    tip.textContent = "";
    const line = (text: string, cls?: string) => {
      const div = document.createElement("div");
      div.textContent = text;
      if (cls) div.className = cls;
      tip.append(div);
    };
    line(`${formatTime(cell.from)} – ${formatTime(cell.to)}`, "heatmap-tip-time");
    line(`${formatValue(cell.lower, props.unit)} – ${formatValue(cell.upper, props.unit)}`);
    line(`${cell.count.toLocaleString()} ${cell.count === 1 ? "sample" : "samples"}${share}`, "heatmap-tip-count");
    tip.hidden = false;
    // Keep the tip inside the plot: flip to the left/top of the cursor near the right/bottom edge.
    const overW = u.over.clientWidth;
    const overH = u.over.clientHeight;
    const tipW = tip.offsetWidth;
    const tipH = tip.offsetHeight;
    tip.style.left = `${left + 14 + tipW > overW ? left - tipW - 10 : left + 14}px`;
    tip.style.top = `${cTop + 14 + tipH > overH ? Math.max(0, cTop - tipH - 10) : cTop + 14}px`;
  };

  const options = (width: number): uPlot.Options => {
    // The time charts' theme (read once from the CSS variables), so the heatmap's axes match theirs.
    const theme = chartTheme();
    const font = `11px ${theme.font}`;
    const axisStroke = theme.textDim;
    // Lighter than the time charts' grid: it must show through the cells without hiding them.
    const grid = { stroke: "rgba(255,255,255,0.07)", width: 1 };
    return {
      width,
      height: props.height ?? 320,
      cursor: { points: { show: false }, drag: { x: false, y: false } },
      legend: { show: true, live: true },
      scales: {
        x: {
          time: true,
          range: () => {
            const ts = current.timestamps;
            if (ts.length === 0) return [0, 1];
            return [ts[0]! / 1000, (ts[ts.length - 1]! + current.stepMs) / 1000];
          },
        },
        // Log base 2: one grid line per bucket boundary, as the data is bucketed.
        y: { distr: 3, log: 2, range: () => valueRange(current.heatmap) },
      },
      axes: [
        // 24 h local time like the time charts (this scale is in seconds).
        { stroke: axisStroke, grid, ticks: { ...grid, size: 4 }, font, size: 26, space: 70, values: timeAxisValues(1000) },
        { stroke: axisStroke, grid, ticks: { ...grid, size: 4 }, font, size: 60, space: 22, values: (_u, splits) => splits.map((v) => formatValue(v, props.unit)) },
      ],
      series: [
        { value: (_u, v) => (v === null ? "—" : formatTime(v * 1000)) },
        ...current.percentiles.map((p, i) => ({
          label: percentileLabel(p.p),
          stroke: LINE_STYLES[i % LINE_STYLES.length]!.stroke,
          dash: LINE_STYLES[i % LINE_STYLES.length]!.dash,
          width: 1.5,
          spanGaps: false,
          // A value between two empty buckets has no line to be part of: draw it as a dot.
          points: { show: true, size: 4, fill: LINE_STYLES[i % LINE_STYLES.length]!.stroke, filter: (_u: uPlot, sidx: number) => isolatedPoints(current.percentiles[sidx - 1]?.values ?? []) },
          value: (_u: uPlot, v: number | null) => formatValue(v, props.unit),
        })),
      ],
      hooks: { drawClear: [paintCells], setCursor: [showTip] },
    };
  };

  onMount(() => {
    plot = new uPlot(options(Math.max(200, host.clientWidth)), percentileLines(current) as uPlot.AlignedData, host);
    plot.over.append(tip);
    const resize = new ResizeObserver(() => {
      const w = host.clientWidth;
      if (plot && w > 0 && Math.abs(w - plot.width) > 1) plot.setSize({ width: w, height: props.height ?? 320 });
    });
    resize.observe(host);
    onCleanup(() => {
      resize.disconnect();
      plot?.destroy();
      plot = undefined;
    });
  });

  createEffect(() => {
    const data = props.data;
    if (!plot || data === current) return;
    if (data.percentiles.length !== current.percentiles.length) {
      // The series set changed (other percentiles): rebuild, the one case setData cannot cover.
      current = data;
      max = maxCount(data.heatmap);
      const width = plot.width;
      plot.destroy();
      plot = new uPlot(options(width), percentileLines(data) as uPlot.AlignedData, host);
      plot.over.append(tip);
      return;
    }
    current = data;
    max = maxCount(data.heatmap);
    // setData re-ranges the scales (the range functions read `current`) and redraws, cells included.
    plot.setData(percentileLines(data) as uPlot.AlignedData);
  });

  const legendStops = () => RAMP.filter((_, i) => i % 16 === 0 || i === RAMP.length - 1).join(", ");
  /** Counts at a few points of the log scale, for the legend's ticks. */
  const legendTicks = createMemo(() => {
    const m = top();
    if (m <= 0) return [];
    const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => ({ f, count: Math.max(1, Math.round(Math.expm1(f * Math.log1p(m)))) }));
    // Small maxima round several ticks to the same count: keep the first of each.
    return ticks.filter((t, i) => i === 0 || t.count !== ticks[i - 1]!.count);
  });

  return (
    <figure class="heatmap" role="group" aria-label={props.label} data-cells={props.data.heatmap.reduce((n, r) => n + r.counts.filter((c) => c > 0).length, 0)}>
      <div ref={host} class="heatmap-plot" />
      <div ref={tip} class="heatmap-tip" hidden role="tooltip" />
      <figcaption class="heatmap-legend">
        <span class="muted">samples per cell (log scale)</span>
        <div class="heatmap-scale">
          <div class="heatmap-gradient" style={{ background: `linear-gradient(to right, ${legendStops()})` }} />
          <div class="heatmap-ticks">
            <For each={legendTicks()}>{(t) => <span style={{ left: `${t.f * 100}%` }}>{formatSi(t.count)}</span>}</For>
          </div>
        </div>
      </figcaption>
    </figure>
  );
}
