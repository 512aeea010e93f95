import { JSONCodec, type NatsConnection } from "nats";
import { NkeyPair, nkeyAuthenticator } from "@probepilot/shared/nkeys";
import type { Logger } from "../logger.ts";
import { closeNats, connectNats, type NatsEndpoint } from "./connect.ts";
import { ensureTenantBuckets } from "./jetstream-setup.ts";
import type { AccountRef, NatsTrust } from "./trust/nats-trust.ts";
import { PLATFORM_ADMIN_PERMISSIONS, SYSTEM_PERMISSIONS, tenantControlPermissions, type UserPermissions } from "./trust/permissions.ts";

/** Lifetime of the control plane's own NATS users; each is renewed at two thirds of it (then reconnects). */
export const CONTROL_PLANE_USER_TTL_SEC = 24 * 3600;

const json = JSONCodec<unknown>();

type IssuedConnection = { nc: NatsConnection; renewTimer: NodeJS.Timeout | null };

/**
 * The control plane's NATS connections, each as a user of its own with only what
 * its job needs (docs/security.md): the system account (pushes account JWTs to the
 * servers' resolvers), the platform account (streams, live taps, agent requests),
 * the status writer and ingester (one durable consumer each), and one connection
 * per tenant account (its KV buckets and config nudges), opened when first needed.
 *
 * Users are minted here with fresh in-memory keys (the control plane holds the
 * signing keys); their JWTs expire and are renewed before they do.
 */
export class NatsMesh {
  private readonly issued: IssuedConnection[] = [];
  private readonly tenants = new Map<string, Promise<NatsConnection>>();
  private closed = false;

  private constructor(
    readonly endpoint: NatsEndpoint,
    readonly trust: NatsTrust,
    private readonly log: Logger,
    private readonly userTtlSec: number,
    private readonly onStatus: ((up: boolean) => void) | undefined,
    /** Set right after construction (it needs `this` to connect). */
    private systemConnection: NatsConnection | null = null,
  ) {}

  /**
   * Connect to the system account, push the platform account's JWT (the servers
   * have it preloaded; this brings its exports up to date), then connect to the
   * platform account. `tenantIds` get their account JWTs pushed too, so their
   * agents can connect before the control plane needs them.
   */
  static async connect(opts: { endpoint: NatsEndpoint; trust: NatsTrust; log: Logger; tenantIds?: string[]; userTtlSec?: number; onStatus?: (up: boolean) => void }): Promise<NatsMesh> {
    const mesh = new NatsMesh(opts.endpoint, opts.trust, opts.log, opts.userTtlSec ?? CONTROL_PLANE_USER_TTL_SEC, opts.onStatus);
    try {
      mesh.systemConnection = await mesh.connectAs("system", "probepilot-control-plane/system", SYSTEM_PERMISSIONS);
      await mesh.syncAccounts(opts.tenantIds ?? []);
      // A server restarted without its resolver directory has forgotten the accounts: push them again.
      void mesh.watchSystemReconnects(opts.tenantIds ?? []);
      return mesh;
    } catch (error) {
      await mesh.close();
      throw error;
    }
  }

  get system(): NatsConnection {
    if (!this.systemConnection) throw new Error("NATS mesh is not connected");
    return this.systemConnection;
  }

  /** The platform account as its administrator (the control plane's main connection). */
  platform(name = "probepilot-control-plane"): Promise<NatsConnection> {
    return this.connectAs("platform", name, PLATFORM_ADMIN_PERMISSIONS, this.onStatus);
  }

  /**
   * A new connection as a fresh user of `account` with `permissions`. Its JWT is
   * renewed at two thirds of its life and the connection reconnects with it
   * (pending publishes wait in the client; unacked JetStream messages are redelivered).
   */
  async connectAs(account: AccountRef, name: string, permissions: UserPermissions, onStatus?: (up: boolean) => void): Promise<NatsConnection> {
    const key = NkeyPair.create("user");
    const issue = () => this.trust.issueUser({ account, name, publicKey: key.getPublicKey(), permissions, ttlSec: this.userTtlSec });
    let current = await issue();
    const nc = await connectNats(this.endpoint, name, nkeyAuthenticator(() => ({ jwt: current.jwt, key })), this.log, onStatus);
    const entry: IssuedConnection = { nc, renewTimer: null };
    const scheduleRenewal = () => {
      const inMs = Math.max(1000, ((current.expiresAt - Date.now()) * 2) / 3);
      entry.renewTimer = setTimeout(() => {
        void (async () => {
          try {
            current = await issue();
            if (!nc.isClosed()) await nc.reconnect();
            this.log.info({ name, expiresAt: new Date(current.expiresAt).toISOString() }, "renewed the control plane's NATS user");
          } catch (err) {
            this.log.error({ err, name }, "could not renew the control plane's NATS user; retrying in a minute");
            current = { ...current, expiresAt: Math.min(current.expiresAt, Date.now() + 90_000) };
          }
          if (!this.closed && !nc.isClosed()) scheduleRenewal();
        })();
      }, inMs);
      entry.renewTimer.unref();
    };
    scheduleRenewal();
    this.issued.push(entry);
    void nc.closed().then(() => entry.renewTimer && clearTimeout(entry.renewTimer));
    return nc;
  }

  /**
   * The control plane's connection to a tenant's account, opened on first use:
   * the account JWT is pushed first (the tenant may be new) and the tenant's KV
   * buckets are made if missing.
   */
  tenant(tenantId: string): Promise<NatsConnection> {
    let nc = this.tenants.get(tenantId);
    if (!nc) {
      nc = (async () => {
        await this.pushAccount(tenantId, await this.trust.tenantAccountJwt(tenantId));
        const conn = await this.connectAs({ tenantId }, `probepilot-control-plane/${tenantId}`, tenantControlPermissions(tenantId));
        await ensureTenantBuckets(conn, tenantId);
        return conn;
      })();
      nc.catch(() => this.tenants.delete(tenantId));
      this.tenants.set(tenantId, nc);
    }
    return nc;
  }

  /** Push the platform account and `tenantIds`' accounts to the servers. */
  async syncAccounts(tenantIds: string[]): Promise<void> {
    for (const { account, jwt } of await this.trust.allAccountJwts(tenantIds)) await this.pushAccount(account, jwt);
  }

  /**
   * Revoke a tenant user (an agent's key) and push the account: every server
   * disconnects its connections at once and refuses it from then on.
   */
  async revokeTenantUser(tenantId: string, userPublicKey: string, untilMs: number): Promise<void> {
    await this.pushAccount(tenantId, await this.trust.revokeTenantUser(tenantId, userPublicKey, untilMs));
  }

  /** Send an account JWT to the servers' resolvers (`$SYS.REQ.CLAIMS.UPDATE`); fails with the server's reason. */
  async pushAccount(label: string, jwt: string): Promise<void> {
    const reply = await this.system.request("$SYS.REQ.CLAIMS.UPDATE", new TextEncoder().encode(jwt), { timeout: 5000 });
    const body = json.decode(reply.data) as { data?: { code?: number; message?: string }; error?: { code?: number; description?: string } };
    if (body.error) throw new Error(`NATS refused the account JWT of ${label}: ${body.error.description ?? JSON.stringify(body.error)}`);
    this.log.debug({ account: label, message: body.data?.message }, "pushed NATS account JWT");
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const entry of this.issued) if (entry.renewTimer) clearTimeout(entry.renewTimer);
    const tenants = await Promise.allSettled([...this.tenants.values()]);
    await Promise.all(tenants.flatMap((t) => (t.status === "fulfilled" ? [closeNats(t.value)] : [])));
    // The system connection last: nothing else pushes accounts after it.
    if (this.systemConnection) await closeNats(this.systemConnection);
  }

  private async watchSystemReconnects(tenantIds: string[]): Promise<void> {
    for await (const s of this.system.status()) {
      if (this.closed) break;
      if (s.type !== "reconnect") continue;
      const known = [...new Set([...tenantIds, ...this.tenants.keys()])];
      await this.syncAccounts(known).catch((err) => this.log.error({ err }, "could not push the NATS accounts again after a reconnect"));
    }
  }
}
