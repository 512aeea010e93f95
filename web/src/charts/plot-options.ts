import uPlot from "uplot";
import { formatTime, formatValue } from "../lib/format.ts";
import type { Annotation } from "./chart-types.ts";
import { annotationColor, withAlpha, type ChartTheme } from "./chart-theme.ts";
import type { SeriesStore } from "./series-store.ts";

/** What a chart's uPlot options are built from. */
export type PlotConfig = {
  width: number;
  height: number;
  /** Legend label when the chart is not grouped. */
  metric: string;
  unit: string | null | undefined;
  stacked: boolean;
  store: SeriesStore;
  theme: ChartTheme;
  /** uPlot cursor sync key: every chart of a group shares it. */
  syncKey: string;
  /** The x range to show, read at every setData (a live window moves with the clock). */
  xRange: () => [number, number];
  /** The group's bucket width (ms), for telling a missing sample from an outage. */
  stepMs: () => number;
  /** The rollout transitions to draw, read at every draw. */
  annotations: () => readonly Annotation[];
};

const AXIS_FONT_PX = 11;
/**
 * Runs of empty buckets shorter than this (or 5 steps, if longer) are bridged:
 * a metric reported every 10 s has 9 empty 1 s buckets between its samples, and
 * drawn with gaps it would be dots. Longer runs (an agent down) stay gaps.
 */
const BRIDGED_GAP_MS = 15_000;
/** Formatters made once (toLocaleTimeString builds one per call: too slow for every render). */
const LEGEND_TIME = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
const AXIS_SECONDS = LEGEND_TIME;
const AXIS_MINUTES = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", hour12: false });
const AXIS_DAYS = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });

/**
 * Time axis labels in local time, 24 h, as precise as the tick spacing needs, for an x scale
 * in `msPerUnit` (1 for the time charts' Unix ms, 1000 for a uPlot scale in seconds).
 */
export function timeAxisValues(msPerUnit = 1) {
  return (_u: uPlot, splits: number[], _axis: number, _space: number, incr: number): string[] => {
    const step = incr * msPerUnit;
    const fmt = step >= 86_400_000 ? AXIS_DAYS : step >= 60_000 ? AXIS_MINUTES : AXIS_SECONDS;
    return splits.map((ts) => fmt.format(ts * msPerUnit));
  };
}
const timeTicks = timeAxisValues(1);

/** Width of the value axis: its longest label as drawn, plus ticks and gap (uPlot's own recipe). */
function valueAxisSize(u: uPlot, values: string[] | undefined, axisIdx: number, cycle: number): number {
  const axis = u.axes[axisIdx]!;
  // Settle after a couple of layout passes, as uPlot advises.
  if (cycle > 1) return (axis as { _size?: number })._size ?? 40;
  let size = (axis.ticks?.size ?? 4) + (axis.gap ?? 5) + 2;
  let longest = "";
  for (const v of values ?? []) if (v.length > longest.length) longest = v;
  if (longest) {
    u.ctx.font = axisFont(axis);
    size += u.ctx.measureText(longest).width / uPlot.pxRatio;
  }
  return Math.ceil(size);
}

function axisFont(axis: uPlot.Axis): string {
  // uPlot keeps the font as [css font, px size] once initialized, scaled to the device pixel ratio.
  const f = axis.font as unknown;
  return Array.isArray(f) ? String(f[0]) : String(f ?? "");
}

/**
 * uPlot options for a time chart. Series options (labels, colours, stacking
 * bands) come from the store's current series set: when it changes, the chart
 * builds a new instance from these (see TimeChart).
 */
export function plotOptions(c: PlotConfig): uPlot.Options {
  const { store, theme, unit } = c;
  const font = `${AXIS_FONT_PX}px ${theme.font}`;
  const color = (i: number) => theme.palette[i % theme.palette.length]!;
  const series: uPlot.Series[] = [
    {
      // The legend's first entry: the hovered time, or the newest bucket's when not hovering.
      value: (_u, ts) => {
        const t = ts ?? store.lastTs();
        return t === undefined || t === null ? "—" : LEGEND_TIME.format(t);
      },
    },
  ];
  store.keys.forEach((key, i) => {
    series.push({
      label: key || c.metric,
      stroke: color(i),
      width: 1.25,
      fill: c.stacked ? withAlpha(color(i), 0.35) : undefined,
      // Raw values in the legend even when stacked (uPlot holds the running sums);
      // without a hovered bucket, the newest value: the legend reads live.
      value: (_u, _v, sidx, idx) => formatValue(idx === null || idx === undefined ? store.lastValue(sidx - 1) : store.ys[sidx - 1]![idx], unit),
      gaps: (u, _sidx, _i0, _i1, gaps) => {
        if (gaps.length === 0) return gaps;
        const x = u.scales.x!;
        const pxPerMs = u.bbox.width / Math.max(1, x.max! - x.min!);
        const bridged = Math.max(BRIDGED_GAP_MS, 5 * c.stepMs()) * pxPerMs;
        return gaps.filter(([from, to]) => to - from > bridged);
      },
    });
  });
  // Stacked areas: each series fills down to the one below it (uPlot bands).
  const bands: uPlot.Band[] = c.stacked ? store.keys.slice(1).map((_, i) => ({ series: [i + 2, i + 1] as [number, number] })) : [];
  const axisStroke = theme.textDim;
  const grid = { stroke: theme.border, width: 1 };
  const ticks = { stroke: theme.border, width: 1, size: 4 };
  return {
    width: c.width,
    height: c.height,
    ms: 1, // timestamps are Unix ms, as the API sends them
    pxAlign: 1,
    series,
    bands,
    legend: { live: true },
    cursor: {
      sync: { key: c.syncKey },
      // Drag-to-zoom would be undone by the next live setData: off.
      drag: { x: false, y: false, setScale: false },
      points: { size: 5 },
    },
    scales: {
      x: { time: true, range: () => c.xRange() },
      // Zero-based unless the data goes below zero; a flat line gets some room.
      y: {
        range: (_u, min, max) => {
          const lo = Math.min(0, min ?? 0);
          let hi = max ?? 1;
          if (!(hi > lo)) hi = lo + 1;
          return [lo, hi + (hi - lo) * 0.06];
        },
      },
    },
    axes: [
      { stroke: axisStroke, grid, ticks, font, size: 26, space: 70, values: timeTicks },
      {
        stroke: axisStroke,
        grid,
        ticks,
        font,
        space: 24,
        values: (_u, splits) => splits.map((v) => formatValue(v, unit)),
        size: valueAxisSize,
      },
    ],
    hooks: {
      draw: [(u) => drawAnnotations(u, c.annotations(), theme)],
      setCursor: [(u) => annotationTitle(u, c.annotations())],
    },
  };
}

/** Vertical dashed lines with a small marker on top, coloured by transition kind. */
function drawAnnotations(u: uPlot, list: readonly Annotation[], theme: ChartTheme): void {
  if (list.length === 0) return;
  const { ctx, bbox } = u;
  const min = u.scales.x!.min!;
  const max = u.scales.x!.max!;
  const px = uPlot.pxRatio;
  ctx.save();
  ctx.lineWidth = px;
  for (const a of list) {
    if (a.ts < min || a.ts > max) continue;
    const x = Math.round(u.valToPos(a.ts, "x", true)) + 0.5;
    const colour = annotationColor(a.kind, theme);
    ctx.strokeStyle = colour;
    ctx.fillStyle = colour;
    ctx.setLineDash([4 * px, 3 * px]);
    ctx.beginPath();
    ctx.moveTo(x, bbox.top);
    ctx.lineTo(x, bbox.top + bbox.height);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.beginPath();
    ctx.moveTo(x - 4 * px, bbox.top);
    ctx.lineTo(x + 4 * px, bbox.top);
    ctx.lineTo(x, bbox.top + 6 * px);
    ctx.closePath();
    ctx.fill();
  }
  ctx.restore();
}

/** Hovering within a few pixels of an annotation shows its text as the plot's tooltip. */
function annotationTitle(u: uPlot, list: readonly Annotation[]): void {
  const left = u.cursor.left ?? -1;
  let text = "";
  if (left >= 0) {
    for (const a of list) {
      if (Math.abs(u.valToPos(a.ts, "x") - left) <= 5) {
        text += `${text ? "\n" : ""}${formatTime(a.ts)} · ${a.text}`;
      }
    }
  }
  if (u.over.title !== text) u.over.title = text;
}
