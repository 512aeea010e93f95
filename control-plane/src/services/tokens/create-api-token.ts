import { newId, type Role } from "@probepilot/shared";
import type { DbOrTx } from "../../db/client.ts";
import { apiTokens } from "../../db/schema.ts";
import { newSecret, hashSecret } from "../auth/secrets.ts";
import { recordAudit, type Actor } from "../audit/record-audit.ts";

export type CreatedApiToken = { id: string; name: string; role: Role; token: string; createdAt: Date; expiresAt: Date | null };

/**
 * Create an API token. The secret is returned once and only its hash is stored.
 * With `expiresInSec` the token stops working that many seconds from now; without, it never expires.
 */
export async function createApiToken(db: DbOrTx, who: Actor, input: { name: string; role: Role; expiresInSec?: number | undefined }): Promise<CreatedApiToken> {
  const token = newSecret("ppt");
  const id = newId("apiToken");
  const expiresAt = input.expiresInSec ? new Date(Date.now() + input.expiresInSec * 1000) : null;
  return db.transaction(async (tx) => {
    const [row] = await tx
      .insert(apiTokens)
      .values({ id, tenantId: who.tenantId, name: input.name, role: input.role, tokenHash: hashSecret(token), createdBy: who.actor, expiresAt })
      .returning();
    await recordAudit(tx, who, "token.create", id, { name: input.name, role: input.role, expiresAt });
    return { id, name: input.name, role: input.role, token, createdAt: row!.createdAt, expiresAt };
  });
}
