import { describe, expect, it } from "vitest";
import { formatBytes, formatSeconds, formatSi, formatValue } from "../../src/lib/format.ts";
import { formatDuration, parseDuration, stepFor, timeRangeFromParams, timeRangeToParams } from "../../src/lib/time-range.ts";

describe("formatValue", () => {
  it("keeps the zeros of whole numbers and drops only trailing decimal zeros", () => {
    expect(formatValue(1, "ratio")).toBe("100%");
    expect(formatValue(0.5, "ratio")).toBe("50%");
    expect(formatValue(0.1234, "ratio")).toBe("12.3%");
    expect(formatSi(250)).toBe("250");
    expect(formatSi(1000)).toBe("1k");
    expect(formatSi(1500)).toBe("1.5k");
    expect(formatSi(1_230_000)).toBe("1.23M");
    expect(formatBytes(1000)).toBe("1000 B");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatValue(1024 * 1024 * 10, "bytes")).toBe("10 MiB");
  });

  it("reads durations in the unit the catalog gives", () => {
    expect(formatValue(250, "us")).toBe("250 µs");
    expect(formatValue(1500, "us")).toBe("1.5 ms");
    expect(formatSeconds(90)).toBe("90 s");
    expect(formatSeconds(600)).toBe("10m");
    expect(formatSeconds(125)).toBe("2m 5s");
    expect(formatValue(null, "bytes")).toBe("—");
    expect(formatValue(3, "packets")).toBe("3 packets");
  });
});

describe("time ranges in the URL", () => {
  it("round-trips live windows and fixed ranges, and falls back on junk", () => {
    expect(parseDuration("15m")).toBe(900_000);
    expect(formatDuration(900_000)).toBe("15m");
    expect(timeRangeFromParams(timeRangeToParams({ kind: "live", windowMs: 3_600_000 }))).toEqual({ kind: "live", windowMs: 3_600_000 });
    expect(timeRangeFromParams(timeRangeToParams({ kind: "fixed", from: 1000, to: 2000 }))).toEqual({ kind: "fixed", from: 1000, to: 2000 });
    expect(timeRangeFromParams({ range: "soon" })).toEqual({ kind: "live", windowMs: 900_000 });
    expect(timeRangeFromParams({ from: "5", to: "1" })).toEqual({ kind: "live", windowMs: 900_000 });
  });

  it("picks a step that keeps a range to about 900 points", () => {
    expect(stepFor(15 * 60_000)).toBe(1000);
    expect(stepFor(3_600_000)).toBe(5000);
    expect(stepFor(24 * 3_600_000)).toBe(300_000);
  });
});
