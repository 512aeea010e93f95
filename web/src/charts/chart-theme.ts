/** The colours charts draw with, read from the theme's CSS variables (styles/theme.css). */
export type ChartTheme = {
  /** Series colours (--s1 … --s8), in order. */
  palette: string[];
  text: string;
  textDim: string;
  border: string;
  accent: string;
  ok: string;
  warn: string;
  bad: string;
  font: string;
};

const FALLBACK: ChartTheme = {
  palette: ["#4fd1c5", "#f6ad55", "#9f7aea", "#63b3ed", "#f687b3", "#68d391", "#fc8181", "#faf089"],
  text: "#d7e0ea",
  textDim: "#8a99ab",
  border: "#1f2a36",
  accent: "#4fd1c5",
  ok: "#48bb78",
  warn: "#ecc94b",
  bad: "#f56565",
  font: "system-ui, sans-serif",
};

let cached: ChartTheme | null = null;

/**
 * The chart theme from the document's CSS variables, read once (getComputedStyle
 * forces a style recalculation: not something to do per chart or per frame).
 */
export function chartTheme(): ChartTheme {
  if (cached) return cached;
  const css = getComputedStyle(document.documentElement);
  const v = (name: string, fallback: string) => css.getPropertyValue(name).trim() || fallback;
  cached = {
    palette: FALLBACK.palette.map((c, i) => v(`--s${i + 1}`, c)),
    text: v("--text", FALLBACK.text),
    textDim: v("--text-dim", FALLBACK.textDim),
    border: v("--border", FALLBACK.border),
    accent: v("--accent", FALLBACK.accent),
    ok: v("--ok", FALLBACK.ok),
    warn: v("--warn", FALLBACK.warn),
    bad: v("--bad", FALLBACK.bad),
    font: v("--font", FALLBACK.font),
  };
  return cached;
}

/** `#rrggbb` at an opacity, for fills under lines. */
export function withAlpha(hex: string, alpha: number): string {
  const m = /^#([0-9a-f]{6})$/i.exec(hex);
  if (!m) return hex;
  const n = parseInt(m[1]!, 16);
  return `rgba(${n >> 16}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

/**
 * The colour of a rollout transition: failures red, pauses yellow, completions
 * green, everything else (wave started, resumed, promoted) the accent.
 */
export function annotationColor(kind: string, theme: ChartTheme): string {
  const k = kind.toLowerCase();
  if (k.includes("rolled_back") || k.includes("rollback") || k.includes("rolling_back") || k.includes("abort") || k.includes("fail")) return theme.bad;
  if (k.includes("pause")) return theme.warn;
  if (k.includes("complete")) return theme.ok;
  return theme.accent;
}
