import { sql, type SQL } from "drizzle-orm";
import { parseSelector } from "@probepilot/shared";
import type { Db } from "../../db/client.ts";
import type { telemetryEvents } from "../../db/schema.ts";
import { selectorToSql } from "../../db/selector-sql.ts";
import { ServiceError } from "../errors.ts";

/** Most events one page may hold. */
export const MAX_EVENTS_PAGE = 1000;
/** Most attribute filters one query may carry. */
export const MAX_ATTR_FILTERS = 20;

type EventRow = typeof telemetryEvents.$inferSelect;
export type EventAttrValue = EventRow["attrs"][string];

export type ListEventsInput = {
  /** Unix ms, inclusive. */
  from: number;
  /** Unix ms, exclusive. */
  to: number;
  /** Only events of this name (`process_exec`, `oom_kill`, …). */
  name?: string;
  /** Only events of this probe. */
  probe?: string;
  /** Only events of agents matching this selector. */
  agentSelector?: string;
  /** Only events whose attributes hold every one of these keys with exactly this value (type included: `1` is not `"1"`). */
  attrs?: Record<string, EventAttrValue>;
  /** Page size, 1 to {@link MAX_EVENTS_PAGE}. */
  limit: number;
  /** The previous page's `nextCursor`. */
  cursor?: string;
};

export type EventItem = Pick<EventRow, "id" | "agentId" | "probe" | "name" | "ts" | "attrs">;
export type ListEventsResult = { items: EventItem[]; nextCursor: string | null };

/**
 * The caller's tenant's events in `[from, to)`, newest first, filtered by name,
 * probe, agent selector and attribute equality, one page at a time.
 *
 * **Order and paging.** Events are ordered by `(ts desc, id desc)`: `id` breaks
 * ties between events of the same millisecond, so the order is total and a page
 * boundary never skips or repeats one. The cursor is that key of the page's last
 * event (opaque to callers); the next page is the keyset `(ts, id) < cursor`, which
 * stays correct while new events arrive (they sort before the cursor and show on
 * the next query from the top, not in the middle of a walk). `nextCursor` is null
 * on the last page: one more row than the page is read to know.
 *
 * **Attribute filters** are one jsonb containment (`attrs @> {...}`): equality on
 * each key with the JSON type included, and `null` matches a key present with a
 * null value (not an absent key).
 *
 * @throws {ServiceError} INVALID for a bad range, limit, filter or cursor, saying what is wrong.
 */
export async function listEvents(db: Db, tenantId: string, input: ListEventsInput): Promise<ListEventsResult> {
  validate(input);
  const filters: SQL[] = [sql`e.tenant_id = ${tenantId}`, sql`e.ts >= ${input.from}::bigint`, sql`e.ts < ${input.to}::bigint`];
  if (input.name !== undefined) filters.push(sql`e.name = ${input.name}`);
  if (input.probe !== undefined) filters.push(sql`e.probe = ${input.probe}`);
  if (input.agentSelector) {
    const selector = selectorToSql(parseSelector(input.agentSelector), sql`a.labels`);
    filters.push(sql`e.agent_id in (select a.id from agents a where a.tenant_id = ${tenantId} and ${selector})`);
  }
  if (input.attrs && Object.keys(input.attrs).length > 0) filters.push(sql`e.attrs @> ${JSON.stringify(input.attrs)}::jsonb`);
  if (input.cursor !== undefined) {
    const { ts, id } = decodeCursor(input.cursor);
    // `e.ts <= ts` is implied by the row comparison; spelled out so the (tenant_id, ts) index bounds the scan.
    filters.push(sql`e.ts <= ${ts}::bigint`, sql`(e.ts, e.id) < (${ts}::bigint, ${id}::bigint)`);
  }

  const rows = await db.execute<{ id: number; agent_id: string; probe: string; name: string; ts: number; attrs: EventItem["attrs"] }>(sql`
    select e.id::float8 as id, e.agent_id, e.probe, e.name, e.ts::float8 as ts, e.attrs
    from telemetry_events e
    where ${sql.join(filters, sql` and `)}
    order by e.ts desc, e.id desc
    limit ${input.limit + 1}`);

  const page = rows.slice(0, input.limit);
  const items = page.map((r) => ({ id: r.id, agentId: r.agent_id, probe: r.probe, name: r.name, ts: r.ts, attrs: r.attrs }));
  const last = items[items.length - 1];
  return { items, nextCursor: rows.length > input.limit && last ? encodeCursor(last.ts, last.id) : null };
}

/** The keyset `(ts, id)` of an event, as an opaque URL-safe string. */
function encodeCursor(ts: number, id: number): string {
  return Buffer.from(`${ts}:${id}`).toString("base64url");
}

function decodeCursor(cursor: string): { ts: number; id: number } {
  const match = /^(\d{1,16}):(\d{1,16})$/.exec(Buffer.from(cursor, "base64url").toString("utf8"));
  const ts = Number(match?.[1]);
  const id = Number(match?.[2]);
  if (!match || !Number.isSafeInteger(ts) || !Number.isSafeInteger(id)) {
    throw new ServiceError("INVALID", `cursor "${cursor.slice(0, 64)}" is not one telemetry.events returned: pass the previous page's nextCursor, or none for the first page`);
  }
  return { ts, id };
}

function validate(input: ListEventsInput): void {
  const { from, to, limit } = input;
  if (!Number.isSafeInteger(from) || from < 0) throw new ServiceError("INVALID", `from ${from}: expected Unix milliseconds (a whole number ≥ 0)`);
  if (!Number.isSafeInteger(to) || to < 0) throw new ServiceError("INVALID", `to ${to}: expected Unix milliseconds (a whole number ≥ 0)`);
  if (to <= from) throw new ServiceError("INVALID", `the range is empty: to (${to}) must be after from (${from})`);
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_EVENTS_PAGE) throw new ServiceError("INVALID", `limit ${limit}: expected a whole number from 1 to ${MAX_EVENTS_PAGE}`);
  const keys = Object.keys(input.attrs ?? {});
  if (keys.length > MAX_ATTR_FILTERS) throw new ServiceError("INVALID", `${keys.length} attribute filters; give at most ${MAX_ATTR_FILTERS}`);
  for (const [key, value] of Object.entries(input.attrs ?? {})) {
    if (typeof value === "number" && !Number.isFinite(value)) throw new ServiceError("INVALID", `attrs.${key}: expected a finite number, a string, a boolean or null`);
  }
}
