import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { TelemetryBatchSchema } from "../src/telemetry.ts";
import { validateTelemetryBatch } from "../src/telemetry-validate.ts";

/** A window so wide that only the schema decides (the window is tested below). */
const ANY_TIME = { nowMs: Date.now(), maxAgeMs: Number.MAX_SAFE_INTEGER, maxAheadMs: Number.MAX_SAFE_INTEGER };

const labelKey = fc.constantFrom("mode", "device", "cpu", "probepilot.io/x", "Bad Key", "", "a".repeat(70));
const labelValue = fc.oneof(fc.constantFrom("user", "eth0", "", "-bad", "x".repeat(64)), fc.integer());
const labels = fc.dictionary(labelKey, labelValue, { maxKeys: 3 });
const num = fc.oneof(fc.double(), fc.integer(), fc.constant(Number.NaN), fc.constant(Infinity), fc.string());
const ts = fc.oneof(fc.nat(), fc.integer({ min: -5, max: -1 }), fc.double({ min: 0, max: 10 }), fc.string());
const point = fc.oneof(fc.tuple(ts, num), fc.array(fc.nat(), { maxLength: 3 }));
const series = fc.record({
  metric: fc.constantFrom("host_load1", "bad metric", "", "x:y_z"),
  kind: fc.constantFrom("gauge", "counter", "histogram"),
  unit: fc.option(fc.constantFrom("ratio", "u".repeat(40)), { nil: undefined }),
  labels,
  points: fc.array(point, { maxLength: 3 }),
});
const histogram = fc.record({ metric: fc.constantFrom("lat", ""), labels, at: ts, buckets: fc.array(fc.oneof(fc.nat(), fc.constant(-1)), { maxLength: 66 }), sum: num, count: fc.oneof(fc.nat(), fc.constant(1.5)) });
const event = fc.record({ name: fc.constantFrom("exec", ""), at: ts, attrs: fc.dictionary(fc.string({ maxLength: 3 }), fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null), fc.constant(Infinity), fc.array(fc.nat()))) });
const profile = fc.record({ at: ts, pid: fc.oneof(fc.nat(), fc.constant(-1)), comm: fc.oneof(fc.string(), fc.nat()), stacks: fc.array(fc.tuple(fc.oneof(fc.string(), fc.nat()), fc.oneof(fc.integer({ min: -1, max: 3 }), fc.constant(0.5))), { maxLength: 2 }) });
const batch = fc.record(
  {
    v: fc.constantFrom(1, 2, "1"),
    tenantId: fc.constantFrom("ten_a", ""),
    agentId: fc.constantFrom("agt_a", "", 3),
    probe: fc.constantFrom("host"),
    probeVersion: fc.constantFrom("builtin", ""),
    seq: fc.oneof(fc.nat(), fc.constant(-1), fc.constant(1.5)),
    sentAt: fc.nat(),
    series: fc.array(series, { maxLength: 3 }),
    histograms: fc.array(histogram, { maxLength: 2 }),
    events: fc.array(event, { maxLength: 2 }),
    profiles: fc.array(profile, { maxLength: 2 }),
  },
  { requiredKeys: ["v", "tenantId", "agentId", "probe", "probeVersion", "seq", "sentAt"] },
);

describe("validateTelemetryBatch (the ingest hot path)", () => {
  it("accepts exactly what TelemetryBatchSchema accepts", () => {
    fc.assert(
      fc.property(batch, (b) => {
        const fast = validateTelemetryBatch(b, ANY_TIME);
        const zod = TelemetryBatchSchema.safeParse(b);
        expect({ ok: fast.ok, reason: fast.ok ? undefined : fast.reason }).toMatchObject({ ok: zod.success });
      }),
      { numRuns: 3000 },
    );
  });

  it("counts the samples of an accepted batch", () => {
    const v = validateTelemetryBatch({ v: 1, tenantId: "t", agentId: "a", probe: "p", probeVersion: "1", seq: 0, sentAt: 0, series: [{ metric: "m", kind: "gauge", labels: {}, points: [[1, 1], [2, 2]] }, { metric: "n", kind: "counter", labels: {}, points: [[1, 3]] }] }, ANY_TIME);
    expect(v).toMatchObject({ ok: true, samples: 3 });
  });

  it("rejects points outside the time window, naming where and the window", () => {
    const now = Date.UTC(2026, 0, 2);
    const b = (t: number) => ({ v: 1, tenantId: "t", agentId: "a", probe: "p", probeVersion: "1", seq: 0, sentAt: now, series: [{ metric: "m", kind: "gauge", labels: {}, points: [[t, 1]] }] });
    const window = { nowMs: now, maxAgeMs: 86_400_000, maxAheadMs: 600_000 };
    expect(validateTelemetryBatch(b(now - 86_400_000), window).ok).toBe(true);
    expect(validateTelemetryBatch(b(now + 600_000), window).ok).toBe(true);
    expect(validateTelemetryBatch(b(now - 86_400_001), window)).toEqual({ ok: false, reason: expect.stringMatching(/^time: series\.0\.points\.0\.0: 2025-12-31T23:59:59\.999Z is outside the accepted window 2026-01-01T00:00:00\.000Z … 2026-01-02T00:10:00\.000Z$/) });
    expect(validateTelemetryBatch(b(now + 600_001), window).ok).toBe(false);
  });
});
