import type { Db } from "../../db/client.ts";
import type { Actor } from "../audit/record-audit.ts";
import { revokeSecret } from "../auth/revoke-secret.ts";

/** Revoke an enrollment token; agents already enrolled with it keep their identity. */
export function revokeEnrollmentToken(db: Db, who: Actor, id: string): Promise<void> {
  return revokeSecret(db, who, "enrollToken", id);
}
