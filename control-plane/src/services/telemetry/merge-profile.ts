import { sql, type SQL } from "drizzle-orm";
import { parseSelector } from "@probepilot/shared";
import type { Db } from "../../db/client.ts";
import { selectorToSql } from "../../db/selector-sql.ts";
import { ServiceError, notFound } from "../errors.ts";

/** Most distinct stacks one profile returns, and the default `limit`; the rest are summed into {@link OTHER_STACK}. */
export const MAX_PROFILE_STACKS = 5000;
/** The entry that carries the samples of the stacks past the limit. */
export const OTHER_STACK = "(other)";

export type MergeProfileInput = {
  /** One agent's profile (NOT_FOUND if the tenant has no such agent). Not together with `agentSelector`. */
  agentId?: string;
  /** The merged profile of the agents matching this selector; neither this nor `agentId` means the whole tenant. */
  agentSelector?: string;
  /** Unix ms, inclusive. */
  from: number;
  /** Unix ms, exclusive. */
  to: number;
  /** Only samples of this process id. */
  pid?: number;
  /** Only samples of processes with this command name (exact). */
  comm?: string;
  /** Most distinct stacks to return, 1 to {@link MAX_PROFILE_STACKS} (default). */
  limit?: number;
};

export type ProfileStack = { stack: string; count: number };
export type MergeProfileResult = {
  /** Folded stacks (`outer;…;inner`) by count, descending (ties by stack); the {@link OTHER_STACK} entry, if any, is last. */
  stacks: ProfileStack[];
  /** All samples that matched, including those summed into {@link OTHER_STACK}. */
  total: number;
  /** Distinct stacks that matched, before the limit. */
  distinct: number;
  /** Whether stacks past the limit were summed into {@link OTHER_STACK}. */
  truncated: boolean;
};

/**
 * A CPU profile over `[from, to)`: the folded stacks of the caller's tenant, from
 * one agent, the agents matching a selector or the whole tenant, optionally of one
 * pid or command name, merged across batches, agents and processes into one count
 * per distinct stack (the input of a flame graph).
 *
 * **Bounded.** The `limit` most frequent stacks are returned (ties broken by the
 * stack text, so the cut is deterministic); every stack past it is summed into one
 * `"(other)"` entry at the end, so `Σ count = total` always holds and the response
 * stays bounded whatever the range. The merge itself runs in Postgres; only the
 * kept stacks and one summary row cross the wire.
 *
 * @throws {ServiceError} INVALID for a bad range or limit, or both agentId and agentSelector; NOT_FOUND for an agent the tenant does not have.
 */
export async function mergeProfile(db: Db, tenantId: string, input: MergeProfileInput): Promise<MergeProfileResult> {
  const limit = input.limit ?? MAX_PROFILE_STACKS;
  validate(input, limit);

  const filters: SQL[] = [sql`p.tenant_id = ${tenantId}`, sql`p.ts >= ${input.from}::bigint`, sql`p.ts < ${input.to}::bigint`];
  if (input.agentId !== undefined) {
    const [agent] = await db.execute<{ id: string }>(sql`select id from agents where id = ${input.agentId} and tenant_id = ${tenantId}`);
    if (!agent) throw notFound("agent", input.agentId);
    filters.push(sql`p.agent_id = ${input.agentId}`);
  }
  if (input.agentSelector) {
    const selector = selectorToSql(parseSelector(input.agentSelector), sql`a.labels`);
    filters.push(sql`p.agent_id in (select a.id from agents a where a.tenant_id = ${tenantId} and ${selector})`);
  }
  if (input.pid !== undefined) filters.push(sql`p.pid = ${input.pid}`);
  if (input.comm !== undefined) filters.push(sql`p.comm = ${input.comm}`);

  // One row per kept stack (rank ≤ limit) and one summary row (stack null) with the
  // rest's samples, the total and the distinct count; the summary row is there even
  // when nothing matched. `collate "C"` makes the tie order byte order, whatever the locale.
  const rows = await db.execute<{ stack: string | null; n: number; total: number | null; nd: number | null }>(sql`
    with merged as (
      select p.stack, sum(p.count)::bigint as n from profile_stacks p
      where ${sql.join(filters, sql` and `)}
      group by p.stack
    ),
    ranked as (
      select stack, n, row_number() over (order by n desc, stack collate "C") as r from merged
    )
    select * from (
      select stack, n::float8 as n, null::float8 as total, null::int as nd from ranked where r <= ${limit}
      union all
      select null, coalesce(sum(n) filter (where r > ${limit}), 0)::float8, coalesce(sum(n), 0)::float8, count(*)::int from ranked
    ) q
    order by q.stack is null, q.n desc, q.stack collate "C"`);

  const stacks: ProfileStack[] = [];
  let total = 0;
  let distinct = 0;
  let other = 0;
  for (const row of rows) {
    if (row.stack !== null) {
      stacks.push({ stack: row.stack, count: row.n });
    } else {
      other = row.n;
      total = row.total ?? 0;
      distinct = row.nd ?? 0;
    }
  }
  const truncated = distinct > stacks.length;
  if (truncated) stacks.push({ stack: OTHER_STACK, count: other });
  return { stacks, total, distinct, truncated };
}

function validate(input: MergeProfileInput, limit: number): void {
  const { from, to } = input;
  if (!Number.isSafeInteger(from) || from < 0) throw new ServiceError("INVALID", `from ${from}: expected Unix milliseconds (a whole number ≥ 0)`);
  if (!Number.isSafeInteger(to) || to < 0) throw new ServiceError("INVALID", `to ${to}: expected Unix milliseconds (a whole number ≥ 0)`);
  if (to <= from) throw new ServiceError("INVALID", `the range is empty: to (${to}) must be after from (${from})`);
  if (input.agentId !== undefined && input.agentSelector !== undefined) {
    throw new ServiceError("INVALID", "give agentId (one agent) or agentSelector (a set of agents), not both");
  }
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PROFILE_STACKS) throw new ServiceError("INVALID", `limit ${limit}: expected a whole number from 1 to ${MAX_PROFILE_STACKS}`);
  if (input.pid !== undefined && (!Number.isSafeInteger(input.pid) || input.pid < 0)) throw new ServiceError("INVALID", `pid ${input.pid}: expected a whole number ≥ 0`);
}
