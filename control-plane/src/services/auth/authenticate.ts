import { and, eq, isNull } from "drizzle-orm";
import type { Role } from "@probepilot/shared";
import type { Db } from "../../db/client.ts";
import { apiTokens } from "../../db/schema.ts";
import { hashSecret } from "./secrets.ts";
import { ServiceError } from "../errors.ts";

/** Who is calling: every service call is scoped by `tenantId`. */
export type Principal = { tenantId: string; tokenId: string; role: Role; actor: string };

/**
 * Resolve a bearer token to its principal, or throw UNAUTHORIZED saying what was wrong.
 * `last_used_at` is refreshed at most once a minute so reads stay reads.
 */
export async function authenticate(db: Db, token: string | undefined): Promise<Principal> {
  if (!token) throw new ServiceError("UNAUTHORIZED", "missing API token: send `Authorization: Bearer <token>`");
  if (!token.startsWith("ppt_")) throw new ServiceError("UNAUTHORIZED", "invalid API token: expected a token starting with \"ppt_\"");
  const [row] = await db
    .select()
    .from(apiTokens)
    .where(and(eq(apiTokens.tokenHash, hashSecret(token)), isNull(apiTokens.revokedAt)))
    .limit(1);
  if (!row) throw new ServiceError("UNAUTHORIZED", "invalid API token: unknown or revoked");
  if (!row.lastUsedAt || Date.now() - row.lastUsedAt.getTime() > 60_000) {
    await db.update(apiTokens).set({ lastUsedAt: new Date() }).where(eq(apiTokens.id, row.id));
  }
  return { tenantId: row.tenantId, tokenId: row.id, role: row.role, actor: `token:${row.name}(${row.id})` };
}
