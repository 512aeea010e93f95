import { createHash } from "node:crypto";
import type { ProbeKind } from "@probepilot/shared";

/**
 * JSON with every object's keys sorted (recursively) and `undefined` members
 * left out, so that two equal values always give the same text whatever order
 * their keys were written or stored in (Postgres jsonb reorders keys).
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") {
    const text = JSON.stringify(value);
    // JSON.stringify(undefined) is undefined; a bare undefined (not a member) only comes from a caller's mistake.
    if (text === undefined) throw new TypeError(`canonicalJson: ${typeof value} has no JSON form`);
    return text;
  }
  if (Array.isArray(value)) return `[${value.map((item) => (item === undefined ? "null" : canonicalJson(item))).join(",")}]`;
  const members = Object.keys(value)
    .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
    .sort()
    .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
  return `{${members.join(",")}}`;
}

/**
 * The identity of a probe spec: `sha256:` and the hex SHA-256 of the canonical
 * JSON of `{kind, params}`. Pass the params as the kind's schema parsed them
 * (defaults filled in), so that `{}` and the explicit defaults hash alike.
 */
export function specHash(kind: ProbeKind, parsedParams: Record<string, unknown>): string {
  return `sha256:${createHash("sha256").update(canonicalJson({ kind, params: parsedParams })).digest("hex")}`;
}

