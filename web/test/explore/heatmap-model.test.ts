import { describe, expect, it } from "vitest";
import { cellAt, colorPosition, colorRamp, isEmptyHistogram, isolatedPoints, maxCount, mergedCounts, percentileLines, rangePercentiles, valueRange, type HeatmapData } from "../../src/pages/explore/heatmap-model.ts";

const DATA: HeatmapData = {
  stepMs: 5000,
  timestamps: [10_000, 15_000, 20_000],
  heatmap: [
    { bucket: 2, lower: 4, upper: 8, counts: [10, 0, 5] },
    { bucket: 5, lower: 32, upper: 64, counts: [0, 1000, 5] },
  ],
  percentiles: [{ p: 50, values: [6, 48, null] }],
  count: [10, 1000, 10],
};

describe("colour scale", () => {
  it("is logarithmic in the count, 0 for empty cells, 1 for the fullest", () => {
    expect(colorPosition(0, 1000)).toBe(0);
    expect(colorPosition(1000, 1000)).toBe(1);
    // 10 samples out of 1000 is 1% of the count but a third of the way up the scale: the tail stays visible.
    expect(colorPosition(10, 1000)).toBeCloseTo(Math.log(11) / Math.log(1001));
    expect(colorPosition(10, 1000)).toBeGreaterThan(0.3);
    expect(colorPosition(5, 0)).toBe(0);
  });

  it("ramps from the darkest to the brightest stop", () => {
    const ramp = colorRamp(256);
    expect(ramp).toHaveLength(256);
    expect(ramp[0]).toBe("rgb(52,16,92)");
    expect(ramp[255]).toBe("rgb(252,255,164)");
    expect(new Set(ramp).size).toBeGreaterThan(200);
  });
});

describe("cellAt", () => {
  it("finds the time and log2 value bucket under the cursor", () => {
    expect(cellAt(DATA, 16_000, 40)).toEqual({ column: 1, from: 15_000, to: 20_000, bucket: 5, lower: 32, upper: 64, count: 1000, columnTotal: 1000 });
    expect(cellAt(DATA, 24_999, 7.9)).toMatchObject({ column: 2, bucket: 2, count: 5, columnTotal: 10 });
    // A bucket with no row is an empty cell, not "nothing".
    expect(cellAt(DATA, 10_000, 16)).toMatchObject({ bucket: 4, lower: 16, upper: 32, count: 0 });
  });

  it("is null outside the data", () => {
    expect(cellAt(DATA, 9_999, 40)).toBeNull();
    expect(cellAt(DATA, 25_000, 40)).toBeNull();
    expect(cellAt(DATA, 12_000, 0.5)).toBeNull();
    expect(cellAt({ ...DATA, timestamps: [] }, 12_000, 40)).toBeNull();
  });
});

describe("ranges and summaries", () => {
  it("spans the non-empty buckets and finds the largest count", () => {
    expect(valueRange(DATA.heatmap)).toEqual([4, 64]);
    expect(valueRange([])).toEqual([1, 2]);
    expect(maxCount(DATA.heatmap)).toBe(1000);
  });

  it("merges the range into one histogram for headline percentiles", () => {
    expect(mergedCounts(DATA.heatmap)).toEqual([0, 0, 15, 0, 0, 1005]);
    const [p0, p100] = rangePercentiles(DATA.heatmap, [0, 100]);
    expect(p0).toEqual({ p: 0, value: 4 });
    expect(p100).toEqual({ p: 100, value: 64 });
    expect(rangePercentiles([], [50])).toEqual([{ p: 50, value: null }]);
  });

  it("tells an all-zero histogram from one with data", () => {
    expect(isEmptyHistogram(DATA)).toBe(false);
    expect(isEmptyHistogram({ heatmap: [{ bucket: 1, lower: 2, upper: 4, counts: [0, 0] }] })).toBe(true);
    expect(isEmptyHistogram({ heatmap: [] })).toBe(true);
  });

  it("puts percentile points in the middle of their time bucket, in seconds", () => {
    expect(percentileLines(DATA)).toEqual([[12.5, 17.5, 22.5], [6, 48, null]]);
  });
});

describe("isolatedPoints", () => {
  it("finds values with empty buckets on both sides, ends included", () => {
    expect(isolatedPoints([5, null, 3, 4, null, 7])).toEqual([0, 5]);
    expect(isolatedPoints([null, 2, null])).toEqual([1]);
    expect(isolatedPoints([1, 2])).toEqual([]);
    expect(isolatedPoints([])).toEqual([]);
  });
});
