import { newId } from "@probepilot/shared";
import type { Db } from "../../db/client.ts";
import { enrollmentTokens } from "../../db/schema.ts";
import { newSecret, hashSecret } from "../auth/secrets.ts";
import { recordAudit, type Actor } from "../audit/record-audit.ts";

export type CreatedEnrollmentToken = { id: string; token: string; description: string; expiresAt: Date; maxUses: number };

/** An enrollment token lives this long unless told otherwise: a token left lying around stops working. */
export const DEFAULT_ENROLL_TOKEN_TTL_SEC = 24 * 3600;
/** Agents one token enrolls unless told otherwise (`--max-uses`): a leaked token cannot flood the fleet. */
export const DEFAULT_ENROLL_TOKEN_MAX_USES = 1000;

/** Create a per-tenant enrollment token for agents; returned once, stored hashed. Every token expires and has a use limit. */
export async function createEnrollmentToken(
  db: Db,
  who: Actor,
  input: { description?: string; expiresInSec?: number; maxUses?: number },
): Promise<CreatedEnrollmentToken> {
  const token = newSecret("ppe");
  const id = newId("enrollToken");
  const description = input.description ?? "";
  const expiresAt = new Date(Date.now() + (input.expiresInSec ?? DEFAULT_ENROLL_TOKEN_TTL_SEC) * 1000);
  const maxUses = input.maxUses ?? DEFAULT_ENROLL_TOKEN_MAX_USES;
  await db.transaction(async (tx) => {
    await tx.insert(enrollmentTokens).values({ id, tenantId: who.tenantId, description, tokenHash: hashSecret(token), createdBy: who.actor, expiresAt, maxUses });
    await recordAudit(tx, who, "enrollToken.create", id, { description, expiresAt, maxUses });
  });
  return { id, token, description, expiresAt, maxUses };
}
