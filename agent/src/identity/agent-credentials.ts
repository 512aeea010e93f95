import { JSONCodec, type Authenticator, type NatsConnection } from "nats";
import { Backoff, RenewReplySchema, agentRpcSubject } from "@probepilot/shared";
import { NkeyPair, decodeJwtClaims, jwtExpiresAt, nkeyAuthenticator } from "@probepilot/shared/nkeys";
import type { Logger } from "../logger.ts";
import type { ControlPlaneEndpoint } from "./control-plane-client.ts";
import { EnrollRefusedError, renewExpiredCredentials } from "./enroll.ts";
import { saveCreds, type StoredIdentity } from "./identity-store.ts";

const json = JSONCodec<unknown>();

/** Ask for a new JWT when this share of the current one's life is left (renewing at two thirds). */
const RENEW_AT_REMAINING = 1 / 3;
/** A renewal over NATS that got no answer is tried again after a random wait under this cap (doubling to 5 minutes), until the JWT expires. */
const RENEW_RETRY_MS = 60_000;
/** A JWT with less than this left is as good as expired: renewed over HTTP before connecting. */
const EXPIRED_MARGIN_MS = 5000;
/** Least time between two recoveries over HTTP after the server refused the credentials. */
const RECOVER_GAP_MS = 15_000;

/** Why the agent must stop: revoked (do not restart it) or unknown to the control plane (enroll again). */
export type CredentialsLost = { reason: "revoked" | "unknown"; message: string };

/**
 * The agent's NATS credentials while it runs: its NKEY (whose seed never leaves
 * the host) and a short-lived user JWT. Before the JWT expires it asks for a new
 * one over its authenticated connection (`renew`), stores it in `nats.creds` and
 * reconnects with it. If the server refuses the credentials (the JWT expired while
 * the host was off, or the control plane's trust changed), it renews over
 * HTTP(S) by proving it holds the seed. A revoked agent is told so and stops.
 */
export class AgentCredentials {
  private jwt: string;
  readonly key: NkeyPair;
  private renewTimer: NodeJS.Timeout | null = null;
  private readonly renewRetry = new Backoff(RENEW_RETRY_MS, 5 * RENEW_RETRY_MS);
  private recovering: Promise<void> | null = null;
  private lastRecoverAt = 0;
  private stopped = false;

  constructor(
    private readonly stored: StoredIdentity,
    private readonly opts: { dataDir: string; controlPlane: ControlPlaneEndpoint; log: Logger; onLost: (lost: CredentialsLost) => void },
  ) {
    this.jwt = stored.creds.jwt;
    this.key = NkeyPair.fromSeed(stored.creds.seed);
    if (this.key.getPublicKey() !== stored.identity.publicKey) throw new Error("nats.creds holds another key than identity.json names: remove both to enroll again");
  }

  get agentId(): string {
    return this.stored.identity.agentId;
  }

  /** When the current JWT expires (ms since the epoch; Infinity when it never does). */
  get expiresAt(): number {
    return jwtExpiresAt(this.jwt) ?? Number.POSITIVE_INFINITY;
  }

  /** For nats.js: read at every (re)connect, so a renewed JWT is used from the next connect on. */
  authenticator(): Authenticator {
    return nkeyAuthenticator(() => ({ jwt: this.jwt, key: this.key }));
  }

  /**
   * Before connecting: a JWT that has expired (or is about to) is renewed over
   * HTTP(S) first. Throws {@link EnrollRefusedError} when the control plane refuses.
   */
  async renewIfExpired(signal?: AbortSignal): Promise<void> {
    if (this.expiresAt - Date.now() > EXPIRED_MARGIN_MS) return;
    this.opts.log.info({ expiredAt: new Date(this.expiresAt).toISOString() }, "NATS credentials expired; renewing them with the control plane");
    const renewed = await renewExpiredCredentials({ controlPlane: this.opts.controlPlane, agentId: this.agentId, key: this.key, log: this.opts.log, ...(signal ? { signal } : {}) });
    await this.accept(renewed.jwt);
  }

  /** Renew before expiry over `nc`, and recover when the server refuses the credentials. */
  watch(nc: NatsConnection): void {
    this.scheduleRenewal(nc);
    void (async () => {
      for await (const s of nc.status()) {
        if (this.stopped) break;
        if (s.type === "error" && (s.data === "AUTHORIZATION_VIOLATION" || s.data === "AUTHENTICATION_EXPIRED")) void this.recover(String(s.data));
      }
    })();
  }

  stop(): void {
    this.stopped = true;
    if (this.renewTimer) clearTimeout(this.renewTimer);
  }

  /** Renew over NATS now (tests; the timer calls this at two thirds of the JWT's life). */
  async renewNow(nc: NatsConnection): Promise<void> {
    const reply = RenewReplySchema.parse(json.decode((await nc.request(agentRpcSubject(this.stored.identity.tenantId, this.agentId, "renew"), json.encode({}), { timeout: 10_000 })).data));
    if (!reply.ok) {
      if (reply.code === "FORBIDDEN") this.lose({ reason: "revoked", message: reply.message });
      throw new Error(`renewal refused (${reply.code}): ${reply.message}`);
    }
    await this.accept(reply.jwt);
    this.opts.log.info({ credsExpireAt: new Date(reply.expiresAt).toISOString() }, "NATS credentials renewed; reconnecting with them");
    // The server holds the connection to the old JWT's expiry: reconnect now, on our terms.
    if (!nc.isClosed()) await nc.reconnect();
  }

  private scheduleRenewal(nc: NatsConnection, delayMs?: number): void {
    if (this.stopped) return;
    if (!Number.isFinite(this.expiresAt)) return;
    const issuedAt = decodeJwtClaims(this.jwt).iat * 1000;
    const renewAt = this.expiresAt - (this.expiresAt - issuedAt) * RENEW_AT_REMAINING;
    const inMs = delayMs ?? Math.max(1000, renewAt - Date.now());
    this.renewTimer = setTimeout(() => {
      void this.renewNow(nc).then(
        () => (this.renewRetry.reset(), this.scheduleRenewal(nc)),
        (err: Error) => {
          if (this.stopped) return;
          const waitMs = this.renewRetry.next();
          this.opts.log.warn({ err: err.message, retryInMs: waitMs }, "could not renew the NATS credentials; retrying");
          if (this.expiresAt > Date.now()) this.scheduleRenewal(nc, waitMs);
        },
      );
    }, inMs);
    this.renewTimer.unref();
  }

  /**
   * The server refused these credentials: renew them over HTTP(S), one attempt at a
   * time and not too often. A revoked (or unknown) agent is reported to `onLost`.
   */
  recover(why: string): Promise<void> {
    if (this.recovering || this.stopped || Date.now() - this.lastRecoverAt < RECOVER_GAP_MS) return this.recovering ?? Promise.resolve();
    this.lastRecoverAt = Date.now();
    this.opts.log.warn({ nats: why }, "NATS refused this agent's credentials; asking the control plane for new ones");
    this.recovering = renewExpiredCredentials({ controlPlane: this.opts.controlPlane, agentId: this.agentId, key: this.key, log: this.opts.log })
      .then((renewed) => this.accept(renewed.jwt))
      .catch((error: unknown) => {
        if (error instanceof EnrollRefusedError && error.code === "FORBIDDEN") this.lose({ reason: "revoked", message: error.message });
        else if (error instanceof EnrollRefusedError && error.code === "UNAUTHORIZED") this.lose({ reason: "unknown", message: error.message });
        else this.opts.log.warn({ err: (error as Error).message }, "could not renew the NATS credentials over HTTP; NATS keeps retrying");
      })
      .finally(() => (this.recovering = null));
    return this.recovering;
  }

  private async accept(jwt: string): Promise<void> {
    this.jwt = jwt;
    this.stored.creds = { jwt, seed: this.stored.creds.seed };
    await saveCreds(this.opts.dataDir, this.stored.creds);
  }

  private lose(lost: CredentialsLost): void {
    if (this.stopped) return;
    this.stop();
    this.opts.onLost(lost);
  }
}
