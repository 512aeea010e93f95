/**
 * Pure helpers of the Events tab: the attribute filter field
 * (`comm=bash, pid=1234, path="/etc/a,b"`) parsed into `telemetry.events`'
 * `attrs`, written back, and pages of events merged as they are refreshed and
 * paged. Unit-tested in web/test/explore/.
 */
import type { RouterInputs } from "../../api/client.ts";

/** An attribute value as `telemetry.events` filters on it (by JSON type: `1` is not `"1"`). */
export type AttrValue = NonNullable<RouterInputs["telemetry"]["events"]["attrs"]>[string];

export type AttrParse = { ok: true; attrs: Record<string, AttrValue> } | { ok: false; message: string; position: number };

/** The most attribute filters the API takes (telemetry.events' MAX_ATTR_FILTERS). */
export const MAX_ATTR_FILTERS = 20;

const KEY = /[A-Za-z0-9_.\-/:]/;

/**
 * `key=value` pairs separated by commas. A value is a number (`pid=42`), `true`,
 * `false`, `null`, a double-quoted string (`path="/tmp/a, b"`, with `\"` and `\\`)
 * or else the bare text up to the next comma (`comm=bash`). Quote a number to
 * match it as text (`port="80"`). Errors say what was expected and where.
 */
export function parseAttrFilters(text: string): AttrParse {
  const attrs: Record<string, AttrValue> = {};
  let i = 0;
  const n = text.length;
  const skipSpace = () => {
    while (i < n && /\s/.test(text[i]!)) i++;
  };
  const fail = (message: string, position = i): AttrParse => ({ ok: false, message, position });

  skipSpace();
  if (i === n) return { ok: true, attrs };
  for (;;) {
    skipSpace();
    const keyStart = i;
    while (i < n && KEY.test(text[i]!)) i++;
    const key = text.slice(keyStart, i);
    if (!key) return fail(i === n ? "expected an attribute name after the comma, e.g. comm=bash" : `expected an attribute name (letters, digits, _ . - / :), found "${text[i]}"`);
    skipSpace();
    if (text[i] !== "=") return fail(i === n ? `expected "=" and a value after "${key}", e.g. ${key}=value` : `expected "=" after "${key}", found "${text[i]}"`);
    i++;
    skipSpace();
    let value: AttrValue;
    if (text[i] === '"') {
      const open = i;
      i++;
      let s = "";
      for (;;) {
        if (i >= n) return fail(`unterminated string: add a closing " for the one opened here`, open);
        const c = text[i]!;
        if (c === "\\" && i + 1 < n) {
          s += text[i + 1];
          i += 2;
        } else if (c === '"') {
          i++;
          break;
        } else {
          s += c;
          i++;
        }
      }
      value = s;
    } else {
      const valueStart = i;
      while (i < n && text[i] !== ",") i++;
      const raw = text.slice(valueStart, i).trim();
      if (!raw) return fail(`expected a value after "${key}=" (quote an empty string: ${key}="")`, valueStart);
      value = typedValue(raw);
    }
    if (key in attrs) return fail(`"${key}" is filtered twice: an event has one value per attribute, keep one`, keyStart);
    attrs[key] = value;
    if (Object.keys(attrs).length > MAX_ATTR_FILTERS) return fail(`at most ${MAX_ATTR_FILTERS} attribute filters`, keyStart);
    skipSpace();
    if (i === n) return { ok: true, attrs };
    if (text[i] !== ",") return fail(`expected "," between filters, found "${text[i]}"`);
    i++;
  }
}

/** A bare value's JSON type: numbers, booleans and null are typed, the rest is text. */
function typedValue(raw: string): AttrValue {
  if (raw === "true") return true;
  if (raw === "false") return false;
  if (raw === "null") return null;
  if (/^-?(\d+(\.\d+)?|\.\d+)([eE][+-]?\d+)?$/.test(raw)) {
    const v = Number(raw);
    if (Number.isFinite(v)) return v;
  }
  return raw;
}

/** Filters back to field text that {@link parseAttrFilters} reads as the same filters. */
export function formatAttrFilters(attrs: Record<string, AttrValue>): string {
  return Object.entries(attrs)
    .map(([k, v]) => `${k}=${formatAttrValue(v)}`)
    .join(", ");
}

function formatAttrValue(v: AttrValue): string {
  if (typeof v !== "string") return String(v);
  // Bare only when it reads back as the same string.
  const bare = v.trim() === v && v !== "" && !v.includes(",") && !v.startsWith('"') && typedValue(v) === v;
  return bare ? v : `"${v.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}

/** One attribute value as text in the table (strings as they are, the rest as JSON). */
export function attrText(v: AttrValue | undefined): string {
  return typeof v === "string" ? v : JSON.stringify(v ?? null);
}

/** The fields of an event the merge needs. */
export type EventKey = { id: number; ts: number };

/**
 * Two lists of events (each newest first) as one, newest first by (ts, id) — the
 * API's order — each event once. A refresh brings the newest page again; an
 * "Older" page continues from the cursor; either may overlap what is shown.
 */
export function mergeEvents<T extends EventKey>(shown: readonly T[], fresh: readonly T[]): T[] {
  const byId = new Map<number, T>();
  for (const e of shown) byId.set(e.id, e);
  for (const e of fresh) byId.set(e.id, e);
  return [...byId.values()].sort((a, b) => b.ts - a.ts || b.id - a.id);
}

/**
 * A refresh of the newest page merged into what is shown. When more events
 * arrived than one page holds, the fresh page does not reach what is shown: the
 * events in between were never loaded, so the list restarts from the fresh page
 * (and its cursor) rather than show a silent hole. Otherwise the pages merge and
 * "Older" continues from where the shown list ends.
 */
export function refreshEvents<T extends EventKey>(
  shown: { items: readonly T[]; cursor: string | null },
  fresh: { items: readonly T[]; nextCursor: string | null },
): { items: T[]; cursor: string | null } {
  const newestShown = shown.items[0];
  const oldestFresh = fresh.items[fresh.items.length - 1];
  if (!newestShown) return { items: [...fresh.items], cursor: fresh.nextCursor };
  const gap = fresh.nextCursor !== null && oldestFresh !== undefined && (oldestFresh.ts > newestShown.ts || (oldestFresh.ts === newestShown.ts && oldestFresh.id > newestShown.id));
  if (gap) return { items: [...fresh.items], cursor: fresh.nextCursor };
  return { items: mergeEvents(shown.items, fresh.items), cursor: shown.cursor };
}
