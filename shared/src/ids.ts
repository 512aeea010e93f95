import { z } from "zod";

/** Prefixed, sortable-enough random ids from one helper (`agt_…`, `ten_…`). */
export const ID_PREFIXES = {
  tenant: "ten",
  agent: "agt",
  apiToken: "tok",
  enrollToken: "enr",
  probe: "prb",
  rollout: "rol",
  policy: "pol",
  audit: "aud",
} as const;
export type IdKind = keyof typeof ID_PREFIXES;

const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";

/**
 * New id such as `agt_01hx…`: a millisecond timestamp (so ids sort by creation)
 * then 80 random bits, Crockford base32, lower case. Ids appear in NATS subjects
 * and KV bucket names, so they use only `[a-z0-9_]`.
 */
export function newId(kind: IdKind, now = Date.now()): string {
  let time = "";
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const random = new Uint8Array(16);
  crypto.getRandomValues(random);
  let rand = "";
  for (const byte of random) rand += ALPHABET[byte % 32];
  return `${ID_PREFIXES[kind]}_${time}${rand}`;
}

/** Any id made by {@link newId}: a 3-letter prefix, `_`, then 26 base32 characters. */
export const ID_PATTERN = /^[a-z]{3}_[0-9a-z]{26}$/;

/** Readable names of the kinds, for messages (`expected an agent id …`). */
const KIND_NAMES: Record<IdKind, string> = {
  tenant: "tenant",
  agent: "agent",
  apiToken: "API token",
  enrollToken: "enrollment token",
  probe: "probe",
  rollout: "rollout",
  policy: "policy",
  audit: "audit entry",
};

/**
 * An id of any kind, checked for shape so that a malformed one is a clear input
 * error rather than a query with a surprising parameter (NUL bytes make Postgres fail).
 */
export const IdSchema = z.string().regex(ID_PATTERN, `expected an id such as agt_01h…: 3 lowercase letters, "_", 26 base32 characters`);

/**
 * An id of one kind: the shape of {@link IdSchema} and the kind's prefix, e.g.
 * `idSchema("agent")` accepts `agt_…` and says `expected an agent id such as agt_01h…: "agt_" then 26 base32 characters`.
 */
export function idSchema(kind: IdKind) {
  const prefix = `${ID_PREFIXES[kind]}_`;
  const message = `expected ${/^[aeiou]/i.test(KIND_NAMES[kind]) ? "an" : "a"} ${KIND_NAMES[kind]} id such as ${prefix}01h…: "${prefix}" then 26 base32 characters`;
  return z.string().refine((id) => ID_PATTERN.test(id) && id.startsWith(prefix), message);
}
