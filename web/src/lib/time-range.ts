/**
 * The time range a page shows: a live window ending now, or a fixed range.
 * In the URL as `range=15m` (live) or `from=<ms>&to=<ms>` (fixed), so that a
 * deep link shows the same thing to whoever opens it.
 */
export type TimeRange = { kind: "live"; windowMs: number } | { kind: "fixed"; from: number; to: number };

/** The windows the picker offers, shortest first. */
export const LIVE_WINDOWS: readonly { label: string; ms: number }[] = [
  { label: "5m", ms: 5 * 60_000 },
  { label: "15m", ms: 15 * 60_000 },
  { label: "1h", ms: 3_600_000 },
  { label: "6h", ms: 6 * 3_600_000 },
  { label: "24h", ms: 24 * 3_600_000 },
];

export const DEFAULT_RANGE: TimeRange = { kind: "live", windowMs: 15 * 60_000 };

const DURATION = /^(\d+(?:\.\d+)?)(s|m|h|d)$/;
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** "15m" → 900000; undefined for anything else. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION.exec(text.trim());
  if (!m) return undefined;
  const ms = Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
  return ms > 0 ? Math.round(ms) : undefined;
}

/** 900000 → "15m" (the largest unit that divides it). */
export function formatDuration(ms: number): string {
  for (const unit of ["d", "h", "m", "s"] as const) if (ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  return `${ms}ms`;
}

/** From URL search params (`range`, `from`, `to`); anything unreadable falls back to the default. */
export function timeRangeFromParams(params: { range?: string | string[]; from?: string | string[]; to?: string | string[] }): TimeRange {
  const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
  const from = Number(one(params.from));
  const to = Number(one(params.to));
  if (Number.isSafeInteger(from) && Number.isSafeInteger(to) && to > from && from > 0) return { kind: "fixed", from, to };
  const windowMs = parseDuration(one(params.range) ?? "");
  return windowMs ? { kind: "live", windowMs: Math.min(windowMs, 24 * 3_600_000) } : DEFAULT_RANGE;
}

/** The URL search params of a range (the others unset, so that switching kinds leaves nothing stale). */
export function timeRangeToParams(range: TimeRange): { range?: string; from?: string; to?: string } {
  return range.kind === "live"
    ? { range: formatDuration(range.windowMs), from: undefined, to: undefined }
    : { range: undefined, from: String(range.from), to: String(range.to) };
}

/** [from, to] in Unix ms; a live range ends now. */
export function resolveRange(range: TimeRange, now = Date.now()): { from: number; to: number } {
  return range.kind === "live" ? { from: now - range.windowMs, to: now } : { from: range.from, to: range.to };
}

/**
 * The step for a range: about `targetPoints` buckets, rounded to a step the
 * rollup tiers serve well (1 s while live and short, then 10 s, 1 m, 5 m, 1 h).
 */
export function stepFor(spanMs: number, targetPoints = 900): number {
  const steps = [1000, 5000, 10_000, 30_000, 60_000, 300_000, 900_000, 3_600_000];
  return steps.find((s) => spanMs / s <= targetPoints) ?? 3_600_000;
}
