import { newId } from "@probepilot/shared";
import type { Db } from "../../db/client.ts";
import { enrollmentTokens } from "../../db/schema.ts";
import { newSecret, hashSecret } from "../auth/secrets.ts";
import { recordAudit, type Actor } from "../audit/record-audit.ts";

export type CreatedEnrollmentToken = { id: string; token: string; description: string; expiresAt: Date | null };

/** Create a per-tenant enrollment token for agents; returned once, stored hashed. */
export async function createEnrollmentToken(
  db: Db,
  who: Actor,
  input: { description?: string; expiresInSec?: number },
): Promise<CreatedEnrollmentToken> {
  const token = newSecret("ppe");
  const id = newId("enrollToken");
  const description = input.description ?? "";
  const expiresAt = input.expiresInSec ? new Date(Date.now() + input.expiresInSec * 1000) : null;
  await db.transaction(async (tx) => {
    await tx.insert(enrollmentTokens).values({ id, tenantId: who.tenantId, description, tokenHash: hashSecret(token), createdBy: who.actor, expiresAt });
    await recordAudit(tx, who, "enrollToken.create", id, { description, expiresAt });
  });
  return { id, token, description, expiresAt };
}
