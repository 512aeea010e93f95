import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * Secrets handed out by the control plane: API tokens (`ppt_…`), enrollment tokens
 * (`ppe_…`) and agent keys (`ppk_…`). 256 random bits each, so a plain SHA-256 is
 * enough to store them (there is nothing to brute-force, unlike passwords).
 */
export type SecretKind = "ppt" | "ppe" | "ppk";

export function newSecret(kind: SecretKind): string {
  return `${kind}_${randomBytes(32).toString("base64url")}`;
}

export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

/** Constant-time comparison of a presented secret with a stored hash. */
export function secretMatches(secret: string, storedHash: string): boolean {
  const a = Buffer.from(hashSecret(secret), "hex");
  const b = Buffer.from(storedHash, "hex");
  return a.length === b.length && timingSafeEqual(a, b);
}
