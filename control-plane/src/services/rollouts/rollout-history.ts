import { and, asc, eq } from "drizzle-orm";
import type { DbOrTx } from "../../db/client.ts";
import { auditLog } from "../../db/schema.ts";
import { findRollout } from "./get-rollout.ts";

export type RolloutHistoryEntry = { at: string; actor: string; action: string; details: Record<string, unknown> };

/** A rollout's audit trail, oldest first: who (an operator or the engine) did what, and why. */
export async function rolloutHistory(db: DbOrTx, tenantId: string, input: { id: string; limit: number }): Promise<RolloutHistoryEntry[]> {
  await findRollout(db, tenantId, input.id);
  const rows = await db
    .select()
    .from(auditLog)
    .where(and(eq(auditLog.tenantId, tenantId), eq(auditLog.target, input.id)))
    .orderBy(asc(auditLog.id))
    .limit(input.limit);
  return rows.map((r) => ({ at: r.at.toISOString(), actor: r.actor, action: r.action, details: r.details }));
}
