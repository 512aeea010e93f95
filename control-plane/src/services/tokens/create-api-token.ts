import { newId, type Role } from "@probepilot/shared";
import type { DbOrTx } from "../../db/client.ts";
import { apiTokens } from "../../db/schema.ts";
import { newSecret, hashSecret } from "../auth/secrets.ts";
import { recordAudit, type Actor } from "../audit/record-audit.ts";

export type CreatedApiToken = { id: string; name: string; role: Role; token: string; createdAt: Date };

/** Create an API token. The secret is returned once and only its hash is stored. */
export async function createApiToken(db: DbOrTx, who: Actor, input: { name: string; role: Role }): Promise<CreatedApiToken> {
  const token = newSecret("ppt");
  const id = newId("apiToken");
  return db.transaction(async (tx) => {
    const [row] = await tx
      .insert(apiTokens)
      .values({ id, tenantId: who.tenantId, name: input.name, role: input.role, tokenHash: hashSecret(token), createdBy: who.actor })
      .returning();
    await recordAudit(tx, who, "token.create", id, { name: input.name, role: input.role });
    return { id, name: input.name, role: input.role, token, createdAt: row!.createdAt };
  });
}
