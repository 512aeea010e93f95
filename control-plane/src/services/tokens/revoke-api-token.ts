import { and, eq, isNull } from "drizzle-orm";
import type { Db } from "../../db/client.ts";
import { apiTokens } from "../../db/schema.ts";
import { recordAudit, type Actor } from "../audit/record-audit.ts";
import { notFound } from "../errors.ts";

/** Revoke an API token of the caller's tenant; revoking twice is a NOT_FOUND. */
export async function revokeApiToken(db: Db, who: Actor, id: string): Promise<void> {
  await db.transaction(async (tx) => {
    const rows = await tx
      .update(apiTokens)
      .set({ revokedAt: new Date() })
      .where(and(eq(apiTokens.id, id), eq(apiTokens.tenantId, who.tenantId), isNull(apiTokens.revokedAt)))
      .returning({ id: apiTokens.id });
    if (rows.length === 0) throw notFound("active API token", id);
    await recordAudit(tx, who, "token.revoke", id);
  });
}
