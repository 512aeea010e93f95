import type { Db } from "../../db/client.ts";
import { auditLog } from "../../db/schema.ts";

export type Actor = { tenantId: string; actor: string };

/** Append one audit entry. Pass the transaction when the mutation runs in one, so both land or neither. */
export async function recordAudit(
  db: Pick<Db, "insert">,
  who: Actor,
  action: string,
  target: string | null,
  details: Record<string, unknown> = {},
): Promise<void> {
  await db.insert(auditLog).values({ tenantId: who.tenantId, actor: who.actor, action, target, details });
}
