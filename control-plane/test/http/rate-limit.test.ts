import { describe, expect, it } from "vitest";
import { RateLimiter, addressKey } from "../../src/http/rate-limit.ts";

describe("RateLimiter", () => {
  it("lets a burst through, then refuses with the seconds until the request fits, then refills at its rate", () => {
    let now = 0;
    const limiter = new RateLimiter({ perSecond: 10, burst: 20 }, 1000, () => now);
    for (let i = 0; i < 20; i++) expect(limiter.take("k").ok).toBe(true);
    const refused = limiter.take("k");
    expect(refused).toMatchObject({ ok: false, remaining: 0, retryAfterSec: 1, limit: 20 });
    now += 500; // 5 back
    for (let i = 0; i < 5; i++) expect(limiter.take("k").ok).toBe(true);
    expect(limiter.take("k").ok).toBe(false);
    now += 10_000; // full again, never more than the burst
    const full = limiter.take("k");
    expect(full).toMatchObject({ ok: true, remaining: 19 });
  });

  it("takes a batch's calls at once and refuses a batch larger than what is left", () => {
    let now = 0;
    const limiter = new RateLimiter({ perSecond: 10, burst: 20 }, 1000, () => now);
    expect(limiter.take("k", 15)).toMatchObject({ ok: true, remaining: 5 });
    expect(limiter.take("k", 10)).toMatchObject({ ok: false, retryAfterSec: 1 });
    // A batch larger than the bucket waits for a full bucket, not forever.
    expect(limiter.take("other", 50)).toMatchObject({ ok: false, retryAfterSec: 1 });
  });

  it("keeps keys apart, is off at 0/s, and drops idle buckets first when it holds too many", () => {
    let now = 0;
    const limiter = new RateLimiter({ perSecond: 1, burst: 1 }, 10, () => now);
    expect(limiter.take("a").ok).toBe(true);
    expect(limiter.take("a").ok).toBe(false);
    expect(limiter.take("b").ok).toBe(true);
    const off = new RateLimiter({ perSecond: 0, burst: 1 });
    for (let i = 0; i < 100; i++) expect(off.take("a").ok).toBe(true);
    for (let i = 0; i < 30; i++) limiter.take(`k${i}`);
    expect(limiter.size).toBeLessThanOrEqual(10);
  });

  it("admits verified keys with the request that proved them taken, and forgets them", () => {
    const limiter = new RateLimiter({ perSecond: 1, burst: 3 }, 1000, () => 0);
    limiter.admit("t", 1, "tok_1");
    expect(limiter.has("t")).toBe(true);
    expect(limiter.labelOf("t")).toBe("tok_1");
    expect(limiter.take("t")).toMatchObject({ ok: true, remaining: 1 });
    limiter.forget("t");
    expect(limiter.has("t")).toBe(false);
    // With the limit off, admitted keys are still known (a verified token must not fall back to its address's bucket).
    const off = new RateLimiter({ perSecond: 0, burst: 3 });
    off.admit("t");
    expect(off.has("t")).toBe(true);
    for (let i = 0; i < 10; i++) expect(off.take("t").ok).toBe(true);
  });
});

describe("addressKey", () => {
  it("keys IPv4 by address and IPv6 by its /64", () => {
    expect(addressKey("10.1.2.3")).toBe("10.1.2.3");
    expect(addressKey("::ffff:127.0.0.1")).toBe("127.0.0.1");
    expect(addressKey("2001:db8:1:2:aaaa::1")).toBe("2001:db8:1:2::/64");
    expect(addressKey("2001:db8:1:2:ffff:ffff:ffff:ffff")).toBe("2001:db8:1:2::/64");
    expect(addressKey("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(addressKey("::1")).toBe("0:0:0:0::/64");
    expect(addressKey("fe80::1%eth0")).toBe("fe80:0:0:0::/64");
    expect(addressKey(undefined)).toBe("unknown");
  });
});
