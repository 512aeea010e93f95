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

export const ID_PATTERN = /^[a-z]{3}_[0-9a-z]{26}$/;
