import { UsageError } from "./command.ts";

const UNIT_SEC: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/** "90", "90s", "15m", "24h", "7d", "2w" → seconds. */
export function parseDurationSec(text: string, flag: string): number {
  const match = text.trim().match(/^(\d+(?:\.\d+)?)([smhdw]?)$/);
  if (!match) throw new UsageError(`${flag} "${text}": expected a duration such as 90s, 15m, 24h or 7d`);
  const seconds = Number(match[1]) * UNIT_SEC[match[2] || "s"]!;
  if (seconds <= 0) throw new UsageError(`${flag} must be positive`);
  return Math.round(seconds);
}
