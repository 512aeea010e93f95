import { and, eq, isNull } from "drizzle-orm";
import type { Db } from "../../db/client.ts";
import { enrollmentTokens } from "../../db/schema.ts";
import { recordAudit, type Actor } from "../audit/record-audit.ts";
import { notFound } from "../errors.ts";

/** Revoke an enrollment token; agents already enrolled with it keep their identity. */
export async function revokeEnrollmentToken(db: Db, who: Actor, id: string): Promise<void> {
  await db.transaction(async (tx) => {
    const rows = await tx
      .update(enrollmentTokens)
      .set({ revokedAt: new Date() })
      .where(and(eq(enrollmentTokens.id, id), eq(enrollmentTokens.tenantId, who.tenantId), isNull(enrollmentTokens.revokedAt)))
      .returning({ id: enrollmentTokens.id });
    if (rows.length === 0) throw notFound("active enrollment token", id);
    await recordAudit(tx, who, "enrollToken.revoke", id);
  });
}
