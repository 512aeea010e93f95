import type { Db } from "../../db/client.ts";
import type { Actor } from "../audit/record-audit.ts";
import { revokeSecret } from "../auth/revoke-secret.ts";

/** Revoke an API token of the caller's tenant (live streams it opened end within seconds); revoking twice is a NOT_FOUND. */
export function revokeApiToken(db: Db, who: Actor, id: string): Promise<void> {
  return revokeSecret(db, who, "apiToken", id);
}
