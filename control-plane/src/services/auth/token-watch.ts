import { inArray } from "drizzle-orm";
import type { Db } from "../../db/client.ts";
import type { Logger } from "../../logger.ts";
import { apiTokens } from "../../db/schema.ts";
import type { Principal } from "./authenticate.ts";

/** How often the tokens behind open live streams are re-read: a revoked or expired token ends its streams within this (plus a query). */
export const TOKEN_RECHECK_MS = 2000;

/** Why a token stopped being good while a stream it opened was running. */
export type TokenEnd = { reason: "revoked" | "expired"; at: Date; message: string };

type Watcher = { principal: Principal; end: (why: TokenEnd) => void };

/**
 * Keeps an eye on the API tokens that opened live streams (SSE subscriptions): one
 * query every {@link TOKEN_RECHECK_MS} for all of them together, however many streams are open,
 * and only while some are. A token that was revoked (by any control plane: the
 * row is the truth) or has expired ends every stream it opened.
 */
export class TokenWatch {
  private readonly watchers = new Map<string, Set<Watcher>>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private checking = false;

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    private readonly intervalMs = TOKEN_RECHECK_MS,
  ) {}

  /** Calls `onEnd` once if the principal's token is revoked or expires; the returned function stops watching. */
  watch(principal: Principal, onEnd: (why: TokenEnd) => void): () => void {
    let done = false;
    const watcher: Watcher = {
      principal,
      end: (why) => {
        if (done) return;
        done = true;
        stop();
        onEnd(why);
      },
    };
    const stop = () => {
      const set = this.watchers.get(principal.tokenId);
      set?.delete(watcher);
      if (set && set.size === 0) this.watchers.delete(principal.tokenId);
      if (this.watchers.size === 0 && this.timer) {
        clearTimeout(this.timer);
        this.timer = null;
      }
    };
    let set = this.watchers.get(principal.tokenId);
    if (!set) this.watchers.set(principal.tokenId, (set = new Set()));
    set.add(watcher);
    this.schedule();
    return () => {
      done = true;
      stop();
    };
  }

  /** Streams being watched (for tests and metrics). */
  get size(): number {
    let n = 0;
    for (const set of this.watchers.values()) n += set.size;
    return n;
  }

  private schedule(): void {
    if (this.timer || this.watchers.size === 0) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.check().finally(() => this.schedule());
    }, this.intervalMs);
    this.timer.unref?.();
  }

  /** One pass: end the streams of tokens that are revoked, expired or gone. */
  async check(): Promise<void> {
    if (this.checking || this.watchers.size === 0) return;
    this.checking = true;
    try {
      const ids = [...this.watchers.keys()];
      const rows = await this.db
        .select({ id: apiTokens.id, revokedAt: apiTokens.revokedAt, expiresAt: apiTokens.expiresAt })
        .from(apiTokens)
        .where(inArray(apiTokens.id, ids));
      const byId = new Map(rows.map((r) => [r.id, r]));
      const now = Date.now();
      for (const id of ids) {
        const row = byId.get(id);
        const end = !row || row.revokedAt ? revoked(row?.revokedAt ?? new Date(now)) : row.expiresAt && row.expiresAt.getTime() <= now ? expired(row.expiresAt) : null;
        if (!end) continue;
        const set = this.watchers.get(id);
        if (!set) continue;
        const first = [...set][0]!.principal;
        this.log.info({ tokenId: id, tenantId: first.tenantId, reason: end.reason, streams: set.size }, "live streams ended: their API token is no longer valid");
        for (const w of [...set]) w.end({ ...end, message: `${tokenLabel(w.principal)} ${end.message}` });
      }
    } catch (err) {
      // Fail open for a moment: the streams were authorized, and the next pass tries again.
      this.log.warn({ err }, "could not re-check the API tokens of live streams; retrying");
    } finally {
      this.checking = false;
    }
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.watchers.clear();
  }
}

/** `API token "ci" (tok_…)`, as `authenticate` names a token. */
function tokenLabel(p: Principal): string {
  const name = p.actor.match(/^token:(.*)\([^()]*\)$/)?.[1];
  return name === undefined ? `API token ${p.tokenId}` : `API token "${name}" (${p.tokenId})`;
}

function revoked(at: Date): Omit<TokenEnd, "message"> & { message: string } {
  return { reason: "revoked", at, message: `was revoked at ${at.toISOString()}: this live stream has ended; sign in with a valid token` };
}

function expired(at: Date): Omit<TokenEnd, "message"> & { message: string } {
  return { reason: "expired", at, message: `expired at ${at.toISOString()}: this live stream has ended; create a new token (probepilot tokens create --expires-in …)` };
}
