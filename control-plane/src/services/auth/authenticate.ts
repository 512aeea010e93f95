import { eq } from "drizzle-orm";
import type { Role } from "@probepilot/shared";
import type { Db } from "../../db/client.ts";
import { apiTokens } from "../../db/schema.ts";
import { hashSecret } from "./secrets.ts";
import { ServiceError } from "../errors.ts";

/** Who is calling: every service call is scoped by `tenantId`. `expiresAt` is null for a token that never expires. */
export type Principal = { tenantId: string; tokenId: string; role: Role; actor: string; expiresAt: Date | null };

/**
 * Resolve a bearer token to its principal, or throw UNAUTHORIZED saying what was wrong
 * (an expired token: when it expired). `last_used_at` is refreshed at most once a minute so reads stay reads.
 */
export async function authenticate(db: Db, token: string | undefined): Promise<Principal> {
  if (!token) throw new ServiceError("UNAUTHORIZED", "missing API token: send `Authorization: Bearer <token>`");
  if (!token.startsWith("ppt_")) throw new ServiceError("UNAUTHORIZED", "invalid API token: expected a token starting with \"ppt_\"");
  const [row] = await db.select().from(apiTokens).where(eq(apiTokens.tokenHash, hashSecret(token))).limit(1);
  if (!row || row.revokedAt) throw new ServiceError("UNAUTHORIZED", "invalid API token: unknown or revoked");
  if (row.expiresAt && row.expiresAt.getTime() <= Date.now()) {
    throw new ServiceError("UNAUTHORIZED", `API token "${row.name}" (${row.id}) expired at ${row.expiresAt.toISOString()}: ask an admin for a new one (probepilot tokens create --expires-in 30d)`);
  }
  if (!row.lastUsedAt || Date.now() - row.lastUsedAt.getTime() > 60_000) {
    await db.update(apiTokens).set({ lastUsedAt: new Date() }).where(eq(apiTokens.id, row.id));
  }
  return { tenantId: row.tenantId, tokenId: row.id, role: row.role, actor: `token:${row.name}(${row.id})`, expiresAt: row.expiresAt };
}
