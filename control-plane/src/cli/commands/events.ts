import type { CommandContext } from "../command.ts";
import { UsageError } from "../command.ts";
import { renderTable } from "../table.ts";
import { iso, timeRange } from "../time.ts";

/** Largest page `telemetry.events` serves; a bigger `--limit` is fetched page by page. */
const EVENTS_PAGE = 1000;
/** Events shown when no `--limit` is given. */
const DEFAULT_LIMIT = 100;
/** The attributes column is the widest: exec arguments and file names are long. */
const ATTRS_WIDTH = 120;

/** Attributes shown first when an event has them: who did it. */
const LEADING_ATTRS = ["pid", "ppid", "uid", "comm"];

type AttrValue = string | number | boolean | null;
type EventItem = { id: number; agentId: string; probe: string; name: string; ts: number; attrs: Record<string, AttrValue> };

/**
 * `events [--name N] [--probe P] [--selector S] [--attr k=v]… [--since 1h | --from T --to T]
 * [--limit 100] [--cursor C] [--json]`: events newest first (the API's order), one
 * line each with their attributes; `--limit` above a page follows the API's cursor.
 * `--json` prints the items as the API returns them.
 */
export async function events(ctx: CommandContext): Promise<void> {
  const { from, to } = timeRange(ctx, "1h");
  const limit = positiveInt(ctx.flags.limit, "--limit") ?? DEFAULT_LIMIT;
  const attrs = parseAttrFilters(ctx.flags.attr);
  const filter = {
    from,
    to,
    name: ctx.flags.name,
    probe: ctx.flags.probe,
    agentSelector: ctx.flags.selector,
    attrs: Object.keys(attrs).length > 0 ? attrs : undefined,
  };

  const items: EventItem[] = [];
  let cursor = ctx.flags.cursor;
  do {
    const page = await ctx.api.telemetry.events.query({ ...filter, limit: Math.min(EVENTS_PAGE, limit - items.length), cursor });
    items.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined && items.length < limit);
  if (ctx.json) return ctx.print(items);

  const header = [
    "events",
    ctx.flags.name && `name ${ctx.flags.name}`,
    ctx.flags.probe && `probe ${ctx.flags.probe}`,
    ctx.flags.selector && `agents "${ctx.flags.selector}"`,
    ...Object.entries(attrs).map(([k, v]) => `${k}=${JSON.stringify(v)}`),
    `${iso(from)} → ${iso(to)}`,
  ]
    .filter(Boolean)
    .join(" · ");
  if (items.length === 0) return ctx.out(`${header}\n\nno events match in this range; widen it with --since (e.g. --since 24h) or drop a filter`);
  const table = renderTable(
    ["TIME", "AGENT", "NAME", "ATTRIBUTES"],
    items.map((e) => [iso(e.ts, true), e.agentId, e.name, formatAttrs(e.attrs) || "-"]),
    ATTRS_WIDTH,
  );
  const more = cursor !== undefined ? `; more in this range: --cursor ${cursor}` : "";
  ctx.out(`${header}\n\n${table}\n\n${items.length} event(s), newest first${more}`);
}

/**
 * `--attr k=v` filters (main.ts passes the repeated flag as a JSON array) as the
 * API's attribute equality: a value is a number if it reads as one, `true`/`false`
 * a boolean, `"…"` in double quotes a string as is (`pid="200"`), anything else a string.
 */
export function parseAttrFilters(flag: string | undefined): Record<string, AttrValue> {
  const assignments = flag ? (JSON.parse(flag) as string[]) : [];
  const attrs: Record<string, AttrValue> = {};
  for (const assignment of assignments) {
    const eq = assignment.indexOf("=");
    if (eq <= 0) throw new UsageError(`--attr "${assignment}": expected key=value, e.g. --attr comm=bash or --attr pid=1234`);
    const key = assignment.slice(0, eq).trim();
    if (key in attrs) throw new UsageError(`--attr ${key} is given twice: an event's attribute has one value`);
    attrs[key] = parseAttrValue(assignment.slice(eq + 1));
  }
  return attrs;
}

function parseAttrValue(text: string): AttrValue {
  if (text === "true") return true;
  if (text === "false") return false;
  if (/^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(text) && Number.isFinite(Number(text))) return Number(text);
  if (text.length >= 2 && text.startsWith('"') && text.endsWith('"')) return text.slice(1, -1);
  return text;
}

/**
 * `k=v k2=v2`: the process identity first ({@link LEADING_ATTRS}), then the rest in
 * the API's order (Postgres jsonb keeps keys by length, not as the agent sent them).
 * A string that would read as something else (spaces, empty, a number) is quoted.
 */
export function formatAttrs(attrs: Record<string, AttrValue>): string {
  const rank = (k: string) => (LEADING_ATTRS.includes(k) ? LEADING_ATTRS.indexOf(k) : LEADING_ATTRS.length);
  return Object.entries(attrs)
    .sort(([a], [b]) => rank(a) - rank(b))
    .map(([k, v]) => `${k}=${typeof v === "string" && (v === "" || /[\s"=]/.test(v) || parseAttrValue(v) !== v) ? JSON.stringify(v) : String(v)}`)
    .join(" ");
}

/** A flag holding a whole number ≥ 1, or undefined when absent. */
export function positiveInt(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text.trim()) || Number(text) < 1 || !Number.isSafeInteger(Number(text))) throw new UsageError(`${flag} "${text}": expected a whole number ≥ 1`);
  return Number(text);
}

