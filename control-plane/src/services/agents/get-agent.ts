import { and, eq } from "drizzle-orm";
import type { Db } from "../../db/client.ts";
import { agents } from "../../db/schema.ts";
import { notFound } from "../errors.ts";
import { toAgentView, type AgentView } from "./agent-view.ts";

/** One agent of the caller's tenant, or NOT_FOUND (also for other tenants' agents). */
export async function getAgent(db: Db, tenantId: string, id: string): Promise<AgentView> {
  const [row] = await db.select().from(agents).where(and(eq(agents.id, id), eq(agents.tenantId, tenantId))).limit(1);
  if (!row) throw notFound("agent", id);
  return toAgentView(row);
}
