import { eq, sql } from "drizzle-orm";
import { encodeAccount, encodeOperator, encodeUser, type Account, type Export, type Import } from "nats-jwt";
import { AGENT_RPC_PREFIX, PLATFORM_ACCOUNT, STATUS_SUBJECT_PREFIX, SYSTEM_ACCOUNT, TELEMETRY_SUBJECT_PREFIX } from "@probepilot/shared";
import { NkeyPair } from "@probepilot/shared/nkeys";
import { withAdvisoryLock, type DbHandle } from "../../db/client.ts";
import { natsIdentities, type NatsIdentityRow } from "../../db/schema.ts";
import type { Logger } from "../../logger.ts";
import type { SecretBox } from "./secret-box.ts";
import type { UserPermissions } from "./permissions.ts";

/** Operator name shown by `nats-server` at start ("Trusted Operators"). */
export const OPERATOR_NAME = "ProbePilot";

type Identity = {
  id: string;
  kind: NatsIdentityRow["kind"];
  tenantId: string | null;
  key: NkeyPair;
  signing: NkeyPair;
  revocations: NatsIdentityRow["revocations"];
};

/** Account limits that mean "unbounded" (nats-jwt leaves connections at 0 otherwise: nobody could connect). */
const OPEN_LIMITS = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };

/**
 * A tenant account's JetStream: only its two KV buckets live there (telemetry and
 * status go to the platform account's streams). Consumers are not capped: every
 * agent's policy watch is an ephemeral consumer.
 */
const TENANT_JETSTREAM = { mem_storage: 64 * 1024 ** 2, disk_storage: 1024 ** 3, streams: 8, consumer: -1 };
const PLATFORM_JETSTREAM = { mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 };

/** The platform services tenants import; each tenant imports only the part named after itself. */
const PLATFORM_SERVICES = [
  { name: "telemetry", prefix: TELEMETRY_SUBJECT_PREFIX },
  { name: "status", prefix: STATUS_SUBJECT_PREFIX },
  { name: "agent-rpc", prefix: AGENT_RPC_PREFIX },
] as const;

export type AccountRef = "system" | "platform" | { tenantId: string };
export type IssuedJwt = { jwt: string; expiresAt: number };

/**
 * The NATS trust chain, owned by the control plane (decentralized JWT auth; no
 * auth callout, which needs nats-server 2.10): an operator, the system account,
 * the platform account (ProbePilot's streams and services) and one account per
 * tenant. Identities live in Postgres with sealed seeds; account JWTs are issued
 * from them on demand and pushed to the servers' resolvers (`NatsMesh`).
 *
 * Signing: the operator's signing key signs accounts; each account's signing key
 * signs its users. Identity keys stay put when a signing key is rotated.
 */
export class NatsTrust {
  private readonly tenantIdentities = new Map<string, Promise<Identity>>();

  private constructor(
    private readonly handle: DbHandle,
    private readonly box: SecretBox,
    private readonly operator: Identity,
    private readonly system: Identity,
    private readonly platform: Identity,
  ) {}

  /**
   * Load the operator, system and platform identities, making them on the very
   * first start (one control plane at a time: an advisory lock). Values sealed
   * with a previous secret key are sealed again with the current one.
   */
  static async open(handle: DbHandle, box: SecretBox, log: Logger): Promise<NatsTrust> {
    return withAdvisoryLock(handle, "probepilot:nats-trust", async () => {
      const load = async (id: "operator" | "system" | "platform") => {
        const [row] = await handle.db.select().from(natsIdentities).where(eq(natsIdentities.id, id)).limit(1);
        if (row) return openIdentity(handle, box, row, log);
        const kind = id === "operator" ? "operator" : "account";
        const created = { key: NkeyPair.create(kind), signing: NkeyPair.create(kind) };
        await handle.db.insert(natsIdentities).values(sealIdentity(box, { id, kind: id, tenantId: null, ...created }));
        log.info({ identity: id, publicKey: created.key.getPublicKey() }, "created NATS identity");
        return { id, kind: id, tenantId: null, ...created, revocations: {} } satisfies Identity;
      };
      const operator = await load("operator");
      const system = await load("system");
      const platform = await load("platform");
      const trust = new NatsTrust(handle, box, operator, system, platform);
      // Tenant accounts sealed with a previous key are resealed as they are first used (`tenant`).
      return trust;
    });
  }

  get operatorPublicKey(): string {
    return this.operator.key.getPublicKey();
  }
  get systemAccountPublicKey(): string {
    return this.system.key.getPublicKey();
  }
  get platformAccountPublicKey(): string {
    return this.platform.key.getPublicKey();
  }

  /** The operator JWT the servers are configured with (self-signed; names the system account and the signing key). */
  operatorJwt(): Promise<string> {
    return encodeOperator(OPERATOR_NAME, this.operator.key, {
      signing_keys: [this.operator.signing.getPublicKey()],
      system_account: this.system.key.getPublicKey(),
    });
  }

  systemAccountJwt(): Promise<string> {
    return this.accountJwt(SYSTEM_ACCOUNT, this.system, { limits: OPEN_LIMITS });
  }

  /**
   * The platform account exports, as services, the subjects agents publish on
   * (telemetry, status) and request on (hello, renew): a JetStream stream here
   * captures them and its ack travels back as the service's reply.
   */
  platformAccountJwt(): Promise<string> {
    const exports: Export[] = PLATFORM_SERVICES.map((s) => ({ name: s.name, subject: `${s.prefix}.>`, type: "service", response_type: "Singleton" }));
    return this.accountJwt(PLATFORM_ACCOUNT, this.platform, { limits: { ...OPEN_LIMITS, ...PLATFORM_JETSTREAM }, exports });
  }

  /**
   * A tenant's account: imports the platform services for its own tenant id only
   * (so nothing in it can reach another tenant's subjects), holds its KV buckets,
   * refuses bearer JWTs and lists its revoked users.
   */
  async tenantAccountJwt(tenantId: string): Promise<string> {
    const identity = await this.tenant(tenantId);
    // Read afresh: another control plane may have revoked a user since (a stale list pushed would un-revoke it).
    const [row] = await this.handle.db.select({ revocations: natsIdentities.revocations }).from(natsIdentities).where(eq(natsIdentities.id, tenantId)).limit(1);
    identity.revocations = row?.revocations ?? identity.revocations;
    const platform = this.platform.key.getPublicKey();
    const imports: Import[] = PLATFORM_SERVICES.map((s) => ({ name: s.name, subject: `${s.prefix}.${tenantId}.>`, account: platform, type: "service" }));
    const now = Math.floor(Date.now() / 1000);
    const revocations = Object.fromEntries(Object.entries(identity.revocations).filter(([, r]) => r.until > now).map(([key, r]) => [key, r.at]));
    return this.accountJwt(tenantId, identity, {
      limits: { ...OPEN_LIMITS, ...TENANT_JETSTREAM, disallow_bearer: true },
      imports,
      ...(Object.keys(revocations).length > 0 ? { revocations } : {}),
    });
  }

  /** The tenant's account public key (made on first use). */
  async tenantAccountPublicKey(tenantId: string): Promise<string> {
    return (await this.tenant(tenantId)).key.getPublicKey();
  }

  /**
   * A user JWT for `publicKey` in `account`, with `permissions`, expiring after
   * `ttlSec`. The caller has checked that this user deserves it.
   */
  async issueUser(opts: { account: AccountRef; name: string; publicKey: string; permissions: UserPermissions; ttlSec: number }): Promise<IssuedJwt> {
    const account = await this.account(opts.account);
    const exp = Math.floor(Date.now() / 1000) + Math.max(1, Math.round(opts.ttlSec));
    const jwt = await encodeUser(
      opts.name,
      NkeyPair.fromPublicKey(opts.publicKey),
      NkeyPair.fromPublicKey(account.key.getPublicKey()),
      { pub: { allow: opts.permissions.pub.allow, deny: [] }, sub: { allow: opts.permissions.sub.allow, deny: [] } },
      { signer: account.signing, exp },
    );
    return { jwt, expiresAt: exp * 1000 };
  }

  /**
   * Revoke every JWT of `userPublicKey` in the tenant's account issued up to now.
   * The entry is kept until `untilMs`, when the newest such JWT would have expired.
   * Returns the tenant account's new JWT, to push to the servers.
   */
  async revokeTenantUser(tenantId: string, userPublicKey: string, untilMs: number): Promise<string> {
    await this.tenant(tenantId);
    const entry = { at: Math.floor(Date.now() / 1000), until: Math.ceil(untilMs / 1000) };
    // One atomic jsonb update: two control planes revoking at once both land.
    const [row] = await this.handle.db
      .update(natsIdentities)
      .set({ revocations: sql`${natsIdentities.revocations} || ${JSON.stringify({ [userPublicKey]: entry })}::jsonb`, updatedAt: new Date() })
      .where(eq(natsIdentities.id, tenantId))
      .returning({ revocations: natsIdentities.revocations });
    if (!row) throw new Error(`NATS account of tenant ${tenantId} is missing`);
    return this.tenantAccountJwt(tenantId);
  }

  /** Every account JWT the servers must know, the platform's first. */
  async allAccountJwts(tenantIds: string[]): Promise<{ account: string; jwt: string }[]> {
    const out = [{ account: PLATFORM_ACCOUNT, jwt: await this.platformAccountJwt() }];
    for (const tenantId of tenantIds) out.push({ account: tenantId, jwt: await this.tenantAccountJwt(tenantId) });
    return out;
  }

  private async account(ref: AccountRef): Promise<Identity> {
    if (ref === "system") return this.system;
    if (ref === "platform") return this.platform;
    return this.tenant(ref.tenantId);
  }

  /** A tenant's identity, made on first use; several control planes racing agree on the first row written. */
  private tenant(tenantId: string): Promise<Identity> {
    let identity = this.tenantIdentities.get(tenantId);
    if (!identity) {
      identity = (async () => {
        const created = { key: NkeyPair.create("account"), signing: NkeyPair.create("account") };
        await this.handle.db
          .insert(natsIdentities)
          .values(sealIdentity(this.box, { id: tenantId, kind: "tenant", tenantId, ...created }))
          .onConflictDoNothing({ target: natsIdentities.id });
        const [row] = await this.handle.db.select().from(natsIdentities).where(eq(natsIdentities.id, tenantId)).limit(1);
        if (!row) throw new Error(`NATS account of tenant ${tenantId} vanished right after it was written`);
        return openIdentity(this.handle, this.box, row);
      })();
      identity.catch(() => this.tenantIdentities.delete(tenantId));
      this.tenantIdentities.set(tenantId, identity);
    }
    return identity;
  }

  private accountJwt(name: string, identity: Identity, account: Partial<Account>): Promise<string> {
    return encodeAccount(name, NkeyPair.fromPublicKey(identity.key.getPublicKey()), { ...account, signing_keys: [identity.signing.getPublicKey()] }, { signer: this.operator.signing });
  }
}

function sealIdentity(box: SecretBox, i: { id: string; kind: NatsIdentityRow["kind"]; tenantId: string | null; key: NkeyPair; signing: NkeyPair }) {
  return {
    id: i.id,
    kind: i.kind,
    tenantId: i.tenantId,
    publicKey: i.key.getPublicKey(),
    seedSealed: box.seal(i.key.seedText(), `nats_identities/${i.id}/seed`),
    signingPublicKey: i.signing.getPublicKey(),
    signingSeedSealed: box.seal(i.signing.seedText(), `nats_identities/${i.id}/signing_seed`),
  };
}

/** Open a row's seeds (checking they match its public keys); reseal them when they were sealed with a previous key. */
async function openIdentity(handle: DbHandle, box: SecretBox, row: NatsIdentityRow, log?: Logger): Promise<Identity> {
  const seed = box.open(row.seedSealed, `nats_identities/${row.id}/seed`);
  const signingSeed = box.open(row.signingSeedSealed, `nats_identities/${row.id}/signing_seed`);
  const key = NkeyPair.fromSeed(seed.plaintext);
  const signing = NkeyPair.fromSeed(signingSeed.plaintext);
  if (key.getPublicKey() !== row.publicKey || signing.getPublicKey() !== row.signingPublicKey) {
    throw new Error(`NATS identity ${row.id}: the stored seeds do not match its public keys`);
  }
  const identity: Identity = { id: row.id, kind: row.kind, tenantId: row.tenantId, key, signing, revocations: row.revocations };
  if (seed.stale || signingSeed.stale) {
    const { seedSealed, signingSeedSealed } = sealIdentity(box, identity);
    await handle.db.update(natsIdentities).set({ seedSealed, signingSeedSealed, updatedAt: new Date() }).where(eq(natsIdentities.id, row.id));
    log?.info({ identity: row.id }, "sealed NATS identity again with the current secret key");
  }
  return identity;
}
