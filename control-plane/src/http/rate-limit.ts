/**
 * Token buckets for the API's rate limits, in memory (per process: with several
 * control planes behind a load balancer each one limits what reaches it).
 *
 * A bucket holds up to `burst` requests and refills at `perSecond`; a request
 * takes one (a tRPC batch takes one per call in it). A bucket that has refilled
 * to full is the same as no bucket, so idle ones are dropped when the map grows.
 */
export type BucketPolicy = {
  /** Sustained requests per second; 0 turns the limit off. */
  perSecond: number;
  /** Requests allowed at once, on top of nothing (the bucket's size). */
  burst: number;
};

export type Take =
  | { ok: true; limit: number; remaining: number; resetSec: number }
  | { ok: false; limit: number; remaining: number; resetSec: number; retryAfterSec: number };

type Bucket = { tokens: number; at: number; label?: string | undefined };

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    readonly policy: BucketPolicy,
    private readonly maxKeys = 50_000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get enabled(): boolean {
    return this.policy.perSecond > 0;
  }

  has(key: string): boolean {
    return this.buckets.has(key);
  }

  /** Start tracking `key` with a full bucket less `cost` (the request that proved it may have one); `label` names it in logs. */
  admit(key: string, cost = 1, label?: string): void {
    // Kept even with the limit off: `has` still tells the keys apart (verified tokens from the rest).
    if (this.buckets.has(key)) return;
    this.buckets.set(key, { tokens: Math.max(0, this.policy.burst - cost), at: this.now(), label });
    this.evictIfFull();
  }

  labelOf(key: string): string | undefined {
    return this.buckets.get(key)?.label;
  }

  forget(key: string): void {
    this.buckets.delete(key);
  }

  /** Take `cost` requests from `key`'s bucket (made full on first use), or say how long until they fit. */
  take(key: string, cost = 1): Take {
    const { perSecond, burst } = this.policy;
    if (!this.enabled) return { ok: true, limit: burst, remaining: burst, resetSec: 0 };
    const now = this.now();
    let bucket = this.buckets.get(key);
    if (bucket) {
      bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * perSecond);
      bucket.at = now;
      // Most recently used last: eviction walks the map from its oldest entries.
      this.buckets.delete(key);
      this.buckets.set(key, bucket);
    } else {
      bucket = { tokens: burst, at: now };
      this.buckets.set(key, bucket);
      this.evictIfFull();
    }
    const resetSec = (tokens: number) => Math.ceil((burst - tokens) / perSecond);
    // A batch larger than the whole bucket can never fit: refuse it as if the bucket were empty.
    if (bucket.tokens >= cost) {
      bucket.tokens -= cost;
      return { ok: true, limit: burst, remaining: Math.floor(bucket.tokens), resetSec: resetSec(bucket.tokens) };
    }
    const retryAfterSec = Math.max(1, Math.ceil((Math.min(cost, burst) - bucket.tokens) / perSecond));
    return { ok: false, limit: burst, remaining: Math.floor(bucket.tokens), resetSec: resetSec(bucket.tokens), retryAfterSec };
  }

  get size(): number {
    return this.buckets.size;
  }

  /** Over `maxKeys`: drop buckets that have refilled, then the least recently used. */
  private evictIfFull(): void {
    if (this.buckets.size <= this.maxKeys) return;
    const now = this.now();
    const { perSecond, burst } = this.policy;
    for (const [key, b] of this.buckets) {
      if (b.tokens + ((now - b.at) / 1000) * perSecond >= burst) this.buckets.delete(key);
    }
    for (const key of this.buckets.keys()) {
      if (this.buckets.size <= this.maxKeys * 0.9) break;
      this.buckets.delete(key);
    }
  }
}

/**
 * The key for a client address: IPv4 as is, IPv6 by its /64 (one host usually
 * owns a whole /64, so per-address would let it rotate through 2^64 buckets).
 */
export function addressKey(address: string | undefined): string {
  if (!address) return "unknown";
  const v4mapped = address.match(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i);
  if (v4mapped) return v4mapped[1]!;
  if (!address.includes(":")) return address;
  const [head] = address.split("%"); // zone id
  const halves = head!.split("::");
  const left = halves[0] ? halves[0].split(":") : [];
  const right = halves.length > 1 && halves[1] ? halves[1].split(":") : [];
  const groups = halves.length > 1 ? [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right] : left;
  return `${groups
    .slice(0, 4)
    .map((g) => (parseInt(g, 16) || 0).toString(16))
    .join(":")}::/64`;
}
