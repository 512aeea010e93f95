import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { Backoff, sleep } from "../src/backoff.ts";

describe("Backoff (full jitter)", () => {
  it("draws every wait in [0, cap) with the cap doubling up to the maximum", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 1, max: 64 }), fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { minLength: 1, maxLength: 30 }), (first, factor, draws) => {
        const max = first * factor;
        let i = 0;
        const b = new Backoff(first, max, () => draws[i++ % draws.length]!);
        let cap = first;
        for (let n = 0; n < draws.length; n++) {
          expect(b.currentCapMs).toBe(cap);
          const wait = b.next();
          expect(wait).toBeGreaterThanOrEqual(0);
          expect(wait).toBeLessThan(cap);
          cap = Math.min(cap * 2, max);
        }
      }),
    );
  });

  it("spreads a fleet's retries instead of lining them up", () => {
    const waits = Array.from({ length: 1000 }, () => new Backoff(1000, 30_000).next());
    // Uniform over [0, 1000): about a tenth in each tenth, never all at once.
    const buckets = Array.from({ length: 10 }, (_, k) => waits.filter((w) => w >= k * 100 && w < (k + 1) * 100).length);
    for (const n of buckets) expect(n).toBeGreaterThan(50);
    expect(new Set(waits).size).toBeGreaterThan(500);
  });

  it("starts over after reset", () => {
    const b = new Backoff(100, 1000, () => 0.999);
    b.next();
    b.next();
    expect(b.currentCapMs).toBe(400);
    b.reset();
    expect(b.currentCapMs).toBe(100);
    expect(b.next()).toBe(99);
  });

  it("refuses a schedule that makes no sense", () => {
    expect(() => new Backoff(0, 10)).toThrow(RangeError);
    expect(() => new Backoff(100, 10)).toThrow(RangeError);
  });

  it("sleep resolves after its time and rejects at once when aborted", async () => {
    const started = Date.now();
    await sleep(20);
    expect(Date.now() - started).toBeGreaterThanOrEqual(15);
    const abort = new AbortController();
    const pending = sleep(10_000, abort.signal);
    abort.abort(new Error("stop"));
    await expect(pending).rejects.toThrow("stop");
    await expect(sleep(10, abort.signal)).rejects.toThrow("stop");
  });
});
