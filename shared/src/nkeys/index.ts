/**
 * NATS NKEY pairs and `.creds` files, with Ed25519 done by Node's crypto.
 *
 * `nkeys.js` (what nats.js and nats-jwt use) signs with tweetnacl in plain
 * JavaScript: 10–20 ms a signature here, against 0.04 ms for `node:crypto`. The
 * control plane signs a user JWT for every agent that enrolls or renews (10,000
 * in `bench:rollout`), so the keys come from here: nkeys.js only encodes and
 * decodes the NKEY text form (base32 with a type prefix and a CRC).
 *
 * Node-only (it imports `node:crypto`), so it is a separate entry point
 * (`@probepilot/shared/nkeys`) that the web app never loads. Computation only, no I/O.
 */
import { createPrivateKey, createPublicKey, randomBytes, sign, verify, type KeyObject } from "node:crypto";
import { Codec } from "nkeys.js/lib/codec.js";
import { Prefix } from "nkeys.js";

export type NkeyKind = "operator" | "account" | "user";

const PREFIX: Record<NkeyKind, Prefix> = { operator: Prefix.Operator, account: Prefix.Account, user: Prefix.User };
const KIND_OF = new Map<Prefix, NkeyKind>(Object.entries(PREFIX).map(([k, p]) => [p, k as NkeyKind]));

/** PKCS#8 DER header of an Ed25519 private key; the 32-byte seed follows it. */
const PKCS8_ED25519 = Buffer.from("302e020100300506032b657004220420", "hex");
/** SPKI DER header of an Ed25519 public key; the 32-byte key follows it. */
const SPKI_ED25519 = Buffer.from("302a300506032b6570032100", "hex");

const text = new TextEncoder();
const untext = new TextDecoder();

/**
 * An NKEY pair (or only a public key), usable wherever nats-jwt expects a
 * `KeyPair`: `getPublicKey`, `getPrivateKey` (only checked for presence),
 * `getSeed`, `sign`, `verify`.
 */
export class NkeyPair {
  private constructor(
    readonly kind: NkeyKind,
    private readonly publicKey: string,
    private readonly publicKeyObject: KeyObject,
    private readonly seed: string | null,
    private readonly privateKeyObject: KeyObject | null,
  ) {}

  /** A fresh key pair of `kind`. */
  static create(kind: NkeyKind): NkeyPair {
    return NkeyPair.fromRawSeed(kind, randomBytes(32));
  }

  /** From the text form of a seed (`SO…`, `SA…`, `SU…`). Throws on anything else. */
  static fromSeed(seed: string): NkeyPair {
    let decoded: { prefix: Prefix; buf: Uint8Array };
    try {
      decoded = Codec.decodeSeed(text.encode(seed.trim()));
    } catch (error) {
      throw new Error(`not an NKEY seed (expected "S" followed by the key type and base32 text): ${(error as Error).message}`, { cause: error });
    }
    const kind = KIND_OF.get(decoded.prefix);
    if (!kind) throw new Error(`unsupported NKEY seed type (prefix ${decoded.prefix}); expected an operator, account or user seed`);
    return NkeyPair.fromRawSeed(kind, decoded.buf);
  }

  /** A public key only (`O…`, `A…`, `U…`): it verifies, it cannot sign. */
  static fromPublicKey(publicKey: string): NkeyPair {
    const prefix = KIND_OF_PUBLIC.get(publicKey[0] ?? "");
    if (prefix === undefined) throw new Error(`not an NKEY public key: "${publicKey.slice(0, 8)}…"`);
    let raw: Uint8Array;
    try {
      raw = Codec.decode(PREFIX[prefix], text.encode(publicKey));
    } catch (error) {
      throw new Error(`not a valid NKEY public key: ${(error as Error).message}`, { cause: error });
    }
    const keyObject = createPublicKey({ key: Buffer.concat([SPKI_ED25519, raw]), format: "der", type: "spki" });
    return new NkeyPair(prefix, publicKey, keyObject, null, null);
  }

  private static fromRawSeed(kind: NkeyKind, raw: Uint8Array): NkeyPair {
    const privateKeyObject = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, raw]), format: "der", type: "pkcs8" });
    const publicKeyObject = createPublicKey(privateKeyObject);
    const rawPublic = publicKeyObject.export({ format: "der", type: "spki" }).subarray(SPKI_ED25519.length);
    const publicKey = untext.decode(Codec.encode(PREFIX[kind], rawPublic));
    const seed = untext.decode(Codec.encodeSeed(PREFIX[kind], raw));
    return new NkeyPair(kind, publicKey, publicKeyObject, seed, privateKeyObject);
  }

  getPublicKey(): string {
    return this.publicKey;
  }

  /** The seed's text form as bytes (what nats-jwt and `.creds` files hold). */
  getSeed(): Uint8Array {
    return text.encode(this.requireSeed());
  }

  /** The seed's text form. */
  seedText(): string {
    return this.requireSeed();
  }

  /** nats-jwt only calls this to check that the key can sign; the seed stands in for the private key. */
  getPrivateKey(): Uint8Array {
    return this.getSeed();
  }

  sign(input: Uint8Array): Uint8Array {
    if (!this.privateKeyObject) throw new Error(`${this.publicKey.slice(0, 8)}… is a public key only: it cannot sign`);
    return sign(null, input, this.privateKeyObject);
  }

  verify(input: Uint8Array, signature: Uint8Array): boolean {
    try {
      return verify(null, input, this.publicKeyObject, signature);
    } catch {
      return false;
    }
  }

  clear(): void {}

  private requireSeed(): string {
    if (!this.seed) throw new Error(`${this.publicKey.slice(0, 8)}… is a public key only: it has no seed`);
    return this.seed;
  }
}

const KIND_OF_PUBLIC = new Map<string, NkeyKind>([
  ["O", "operator"],
  ["A", "account"],
  ["U", "user"],
]);

/** The standard NATS `.creds` file: the user JWT and its seed, between the usual markers. */
export function formatCreds(jwt: string, seed: string): string {
  return (
    "-----BEGIN NATS USER JWT-----\n" +
    `${jwt}\n` +
    "------END NATS USER JWT------\n\n" +
    "************************* IMPORTANT *************************\n" +
    "NKEY Seed printed below can be used to sign and prove identity.\n" +
    "NKEYs are sensitive and should be treated as secrets.\n\n" +
    "-----BEGIN USER NKEY SEED-----\n" +
    `${seed}\n` +
    "------END USER NKEY SEED------\n\n" +
    "*************************************************************\n"
  );
}

/** The JWT and seed of a `.creds` file, or an error saying which part is missing. */
export function parseCreds(creds: string): { jwt: string; seed: string } {
  const section = (marker: string) => new RegExp(`-{3,}BEGIN ${marker}-{3,}\\s*\\n\\s*([^\\n]+?)\\s*\\n\\s*-{3,}END ${marker}-{3,}`).exec(creds)?.[1];
  const jwt = section("NATS USER JWT");
  const seed = section("USER NKEY SEED");
  if (!jwt) throw new Error("not a NATS .creds file: no user JWT between -----BEGIN NATS USER JWT----- and ------END NATS USER JWT------");
  if (!seed) throw new Error("not a NATS .creds file: no seed between -----BEGIN USER NKEY SEED----- and ------END USER NKEY SEED------");
  return { jwt, seed };
}

/** The claims of a JWT, unverified (the NATS server verifies; callers read `exp`, `sub`, `name`). */
export function decodeJwtClaims(jwt: string): { sub: string; iss: string; name?: string; exp?: number; iat: number; nats?: Record<string, unknown> } {
  const body = jwt.split(".")[1];
  if (!body) throw new Error("not a JWT: expected three dot-separated parts");
  return JSON.parse(Buffer.from(body, "base64url").toString("utf8"));
}

/** Expiry of a JWT in ms since the epoch, or null when it never expires. */
export function jwtExpiresAt(jwt: string): number | null {
  const { exp } = decodeJwtClaims(jwt);
  return typeof exp === "number" ? exp * 1000 : null;
}

/**
 * A nats.js `authenticator` for a user whose JWT and seed may change while the
 * connection lives (renewal): `current()` is read at every (re)connect, and the
 * server's nonce is signed with Node's Ed25519.
 */
export function nkeyAuthenticator(current: () => { jwt: string; key: NkeyPair }) {
  return (nonce?: string) => {
    const { jwt, key } = current();
    const sig = nonce ? Buffer.from(key.sign(text.encode(nonce))).toString("base64url") : undefined;
    return { jwt, nkey: key.getPublicKey(), ...(sig ? { sig } : {}) };
  };
}
