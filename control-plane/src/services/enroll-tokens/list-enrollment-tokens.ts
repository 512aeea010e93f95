import { desc, eq } from "drizzle-orm";
import type { Db } from "../../db/client.ts";
import { enrollmentTokens } from "../../db/schema.ts";

/** The caller's tenant's enrollment tokens, newest first, without their hashes. */
export async function listEnrollmentTokens(db: Db, tenantId: string) {
  return db
    .select({
      id: enrollmentTokens.id,
      description: enrollmentTokens.description,
      createdBy: enrollmentTokens.createdBy,
      createdAt: enrollmentTokens.createdAt,
      expiresAt: enrollmentTokens.expiresAt,
      revokedAt: enrollmentTokens.revokedAt,
      uses: enrollmentTokens.uses,
      maxUses: enrollmentTokens.maxUses,
    })
    .from(enrollmentTokens)
    .where(eq(enrollmentTokens.tenantId, tenantId))
    .orderBy(desc(enrollmentTokens.createdAt));
}
