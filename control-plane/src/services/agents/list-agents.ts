import { and, asc, eq, gt, sql } from "drizzle-orm";
import { parseSelector, type AgentStatus } from "@probepilot/shared";
import type { Db } from "../../db/client.ts";
import { agents } from "../../db/schema.ts";
import { selectorToSql } from "../../db/selector-sql.ts";
import { toAgentView, type AgentView } from "./agent-view.ts";

export type ListAgentsInput = { selector?: string; status?: AgentStatus; limit: number; cursor?: string };
export type ListAgentsResult = { items: AgentView[]; total: number; nextCursor: string | null };

/**
 * Agents of one tenant matching a label selector and status, keyset-paginated by id
 * (ids sort by creation, so pages are stable while agents join).
 */
export async function listAgents(db: Db, tenantId: string, input: ListAgentsInput): Promise<ListAgentsResult> {
  const filters = [eq(agents.tenantId, tenantId)];
  if (input.selector) filters.push(selectorToSql(parseSelector(input.selector), sql`${agents.labels}`));
  if (input.status) filters.push(eq(agents.status, input.status));
  const where = and(...filters);
  const pageWhere = input.cursor ? and(where, gt(agents.id, input.cursor)) : where;
  const [rows, [count]] = await Promise.all([
    db.select().from(agents).where(pageWhere).orderBy(asc(agents.id)).limit(input.limit + 1),
    db.select({ total: sql<number>`count(*)::int` }).from(agents).where(where),
  ]);
  const page = rows.slice(0, input.limit);
  return {
    items: page.map(toAgentView),
    total: count?.total ?? 0,
    nextCursor: rows.length > input.limit ? page[page.length - 1]!.id : null,
  };
}
