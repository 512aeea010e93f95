import { and, eq, isNull } from "drizzle-orm";
import type { Db } from "../../db/client.ts";
import { apiTokens, enrollmentTokens } from "../../db/schema.ts";
import { recordAudit, type Actor } from "../audit/record-audit.ts";
import { notFound } from "../errors.ts";

/** The tables of per-tenant secrets, revoked by setting `revoked_at`: one implementation for both kinds. */
const REVOCABLE = {
  apiToken: { table: apiTokens, what: "active API token", action: "token.revoke" },
  enrollToken: { table: enrollmentTokens, what: "active enrollment token", action: "enrollToken.revoke" },
} as const;

/**
 * Revoke a secret of the caller's tenant (an API token, an enrollment token): it is
 * refused from now on, audited in the same transaction. Revoking one that is
 * already revoked, or another tenant's, is a NOT_FOUND.
 */
export async function revokeSecret(db: Db, who: Actor, kind: keyof typeof REVOCABLE, id: string): Promise<void> {
  const { table, what, action } = REVOCABLE[kind];
  await db.transaction(async (tx) => {
    const rows = await tx
      .update(table)
      .set({ revokedAt: new Date() })
      .where(and(eq(table.id, id), eq(table.tenantId, who.tenantId), isNull(table.revokedAt)))
      .returning({ id: table.id });
    if (rows.length === 0) throw notFound(what, id);
    await recordAudit(tx, who, action, id);
  });
}
