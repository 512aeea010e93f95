import type { CommandContext } from "./command.ts";
import { UsageError } from "./command.ts";
import { parseDurationSec } from "./duration.ts";

/** Steps an automatic choice picks from: round numbers that the rollup tiers can serve. */
const NICE_STEPS_SEC = [1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86_400];

/**
 * A CLI time: `now`, a duration meaning that long ago (`15m`, `2h`), an ISO 8601
 * time (`2025-01-31T12:00:00Z`) or Unix milliseconds.
 */
export function parseTime(text: string, flag: string, now: number): number {
  const t = text.trim();
  if (t === "now") return now;
  if (/^\d{12,}$/.test(t)) return Number(t);
  if (/^\d+(\.\d+)?[smhdw]?$/.test(t)) return now - parseDurationSec(t, flag) * 1000;
  const parsed = /^\d{4}-\d{2}-\d{2}/.test(t) ? Date.parse(t) : NaN;
  if (Number.isNaN(parsed)) throw new UsageError(`${flag} "${text}": expected now, a duration ago (15m, 24h), an ISO time (2025-01-31T12:00:00Z) or Unix milliseconds`);
  return parsed;
}

/**
 * The `[from, to)` a command works on: `--since`/`--until`, with `--from`/`--to`
 * as synonyms (giving both names of one end is an error), defaulting to the
 * last `defaultSince` up to now.
 */
export function timeRange(ctx: CommandContext, defaultSince: string): { from: number; to: number } {
  const { since, from: fromFlag, until, to: toFlag } = ctx.flags;
  if (since !== undefined && fromFlag !== undefined) throw new UsageError("give --since or --from, not both: they are the same start");
  if (until !== undefined && toFlag !== undefined) throw new UsageError("give --until or --to, not both: they are the same end");
  const now = Date.now();
  const fromName = fromFlag !== undefined ? "--from" : "--since";
  const toName = toFlag !== undefined ? "--to" : "--until";
  const to = parseTime(toFlag ?? until ?? "now", toName, now);
  const from = parseTime(fromFlag ?? since ?? defaultSince, fromName, now);
  if (to <= from) throw new UsageError(`${fromName} (${iso(from)}) must be before ${toName} (${iso(to)})`);
  return { from, to };
}

/** The smallest round step giving at most about `targetPoints` points over `rangeMs`. */
export function autoStepMs(rangeMs: number, targetPoints: number): number {
  const want = rangeMs / 1000 / targetPoints;
  return (NICE_STEPS_SEC.find((s) => s >= want) ?? Math.ceil(want / 86_400) * 86_400) * 1000;
}

/** `--step` when given, else an automatic one for about `targetPoints` points. */
export function stepFlag(ctx: CommandContext, rangeMs: number, targetPoints: number): number {
  return ctx.flags.step ? parseDurationSec(ctx.flags.step, "--step") * 1000 : autoStepMs(rangeMs, targetPoints);
}

export function formatStep(ms: number): string {
  const s = ms / 1000;
  if (s % 86_400 === 0) return `${s / 86_400}d`;
  if (s % 3600 === 0) return `${s / 3600}h`;
  if (s % 60 === 0) return `${s / 60}m`;
  return `${s}s`;
}

/** ISO time; with `withMs`, keeping the milliseconds (events are stamped to the ms, sub-second steps need them). */
export function iso(ms: number, withMs = false): string {
  const text = new Date(ms).toISOString();
  return withMs ? text : text.replace(/\.\d{3}Z$/, "Z");
}
