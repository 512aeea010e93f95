import { describe, expect, it } from "vitest";
import { SeriesStore, labelKey } from "../../src/charts/series-store.ts";
import type { SeriesData } from "../../src/charts/chart-types.ts";

const S = 1000;
const series = (labels: Record<string, string>, points: [number, number | null][]): SeriesData => ({ labels, points });

describe("labelKey", () => {
  it("is k=v, keys sorted, empty when ungrouped", () => {
    expect(labelKey({})).toBe("");
    expect(labelKey({ mode: "user" })).toBe("mode=user");
    expect(labelKey({ mode: "user", cpu: "0" })).toBe("cpu=0, mode=user");
  });
});

describe("SeriesStore", () => {
  it("lays a backfill out in columns, series in label order, leading empty buckets dropped", () => {
    const store = new SeriesStore();
    store.applyBackfill([
      series({ mode: "user" }, [[1 * S, null], [2 * S, null], [3 * S, 0.5], [4 * S, 0.6]]),
      series({ mode: "system" }, [[1 * S, null], [2 * S, null], [3 * S, 0.1], [4 * S, null]]),
    ]);
    expect(store.keys).toEqual(["mode=system", "mode=user"]);
    expect(store.data()).toEqual([
      [3 * S, 4 * S],
      [0.1, null],
      [0.5, 0.6],
    ]);
    expect(store.length).toBe(2);
    expect(store.lastTs()).toBe(4 * S);
  });

  it("replaces a known bucket in place and appends a new one, without rebuilding the arrays", () => {
    const store = new SeriesStore();
    store.applyBackfill([series({}, [[1 * S, 1], [2 * S, 2]])]);
    const data = store.data();
    const shape = store.shape;
    expect(store.applyUpdate([series({}, [[2 * S, 2.5], [3 * S, 3]])])).toBe(1);
    expect(store.data()).toBe(data); // same arrays: uPlot gets them back without copying
    expect(store.shape).toBe(shape);
    expect(data).toEqual([
      [1 * S, 2 * S, 3 * S],
      [1, 2.5, 3],
    ]);
  });

  it("gives the other series a gap at a bucket only one of them reported", () => {
    const store = new SeriesStore();
    store.applyBackfill([series({ m: "a" }, [[1 * S, 1]]), series({ m: "b" }, [[1 * S, 10]])]);
    store.applyUpdate([series({ m: "a" }, [[2 * S, 2]])]);
    expect(store.data()).toEqual([
      [1 * S, 2 * S],
      [1, 2],
      [10, null],
    ]);
    store.applyUpdate([series({ m: "b" }, [[2 * S, 20]])]);
    expect(store.ys[1]).toEqual([10, 20]);
  });

  it("adds a series that appears in an update (with gaps before) and says the shape changed", () => {
    const store = new SeriesStore();
    store.applyBackfill([series({ m: "a" }, [[1 * S, 1]])]);
    const shape = store.shape;
    store.applyUpdate([series({ m: "c" }, [[2 * S, 5]])]);
    expect(store.shape).toBeGreaterThan(shape);
    expect(store.keys).toEqual(["m=a", "m=c"]);
    expect(store.data()).toEqual([
      [1 * S, 2 * S],
      [1, null],
      [null, 5],
    ]);
  });

  it("inserts a late bucket between two known ones", () => {
    const store = new SeriesStore();
    store.applyBackfill([series({}, [[1 * S, 1], [2 * S, 2], [3 * S, 3], [4 * S, 4], [5 * S, 5], [6 * S, 6], [8 * S, 8]])]);
    store.applyUpdate([series({}, [[7 * S, 7]])]);
    store.applyUpdate([series({}, [[1.5 * S, 1.5]])]); // far back: found by binary search
    expect(store.xs).toEqual([1, 1.5, 2, 3, 4, 5, 6, 7, 8].map((x) => x * S));
    expect(store.ys[0]).toEqual([1, 1.5, 2, 3, 4, 5, 6, 7, 8]);
  });

  it("merges an overlapping backfill (a reconnect) by timestamp: newer values win, older buckets stay", () => {
    const store = new SeriesStore();
    store.applyBackfill([series({}, [[1 * S, 1], [2 * S, 2], [3 * S, 3]])]);
    store.applyUpdate([series({}, [[4 * S, 4]])]);
    store.applyBackfill([series({}, [[3 * S, 30], [4 * S, 40], [5 * S, 50]])]);
    expect(store.data()).toEqual([
      [1, 2, 3, 4, 5].map((x) => x * S),
      [1, 2, 30, 40, 50],
    ]);
  });

  it("keeps a rolling window: buckets older than the cut are dropped", () => {
    const store = new SeriesStore();
    store.applyBackfill([series({}, [[1 * S, 1], [2 * S, 2], [3 * S, 3]])]);
    expect(store.trimBefore(2 * S)).toBe(1);
    expect(store.data()).toEqual([[2 * S, 3 * S], [2, 3]]);
    store.applyUpdate([series({}, [[4 * S, 4]])]);
    expect(store.trimBefore(3 * S)).toBe(1);
    expect(store.data()).toEqual([[3 * S, 4 * S], [3, 4]]);
    expect(store.trimBefore(3 * S)).toBe(0);
  });

  it("keeps running sums in step when stacked, and the raw values for the legend", () => {
    const store = new SeriesStore(true);
    store.applyBackfill([series({ m: "a" }, [[1 * S, 1], [2 * S, 2]]), series({ m: "b" }, [[1 * S, 10], [2 * S, null]])]);
    expect(store.data()).toEqual([
      [1 * S, 2 * S],
      [1, 2],
      [11, null],
    ]);
    store.applyUpdate([series({ m: "b" }, [[2 * S, 20], [3 * S, 30]]), series({ m: "a" }, [[3 * S, 3]])]);
    expect(store.data()).toEqual([
      [1 * S, 2 * S, 3 * S],
      [1, 2, 3],
      [11, 22, 33],
    ]);
    expect(store.ys[1]).toEqual([10, 20, 30]);
    expect(store.lastValue(1)).toBe(30);
    store.trimBefore(2 * S);
    expect(store.data()).toEqual([[2 * S, 3 * S], [2, 3], [22, 33]]);
  });

  it("reads the newest non-null value of a series for the live legend", () => {
    const store = new SeriesStore();
    store.applyBackfill([series({ m: "a" }, [[1 * S, 1], [2 * S, 2]]), series({ m: "b" }, [[1 * S, 5], [2 * S, null]])]);
    expect(store.lastValue(0)).toBe(2);
    expect(store.lastValue(1)).toBe(5);
    expect(store.lastValue(7)).toBeNull();
  });

  it("forgets everything on clear", () => {
    const store = new SeriesStore();
    store.applyBackfill([series({}, [[1 * S, 1]])]);
    const shape = store.shape;
    store.clear();
    expect(store.length).toBe(0);
    expect(store.seriesCount).toBe(0);
    expect(store.shape).toBeGreaterThan(shape);
    expect(store.data()).toEqual([[]]);
  });

  it("keeps a 1 h window of 4 series at 1 s steps at 3,601 buckets through an hour of updates", () => {
    const store = new SeriesStore();
    const t0 = 1_700_000_000_000;
    const labels = ["a", "b", "c", "d"].map((m) => ({ mode: m }));
    store.applyBackfill(labels.map((l) => series(l, Array.from({ length: 3601 }, (_, i) => [t0 + i * S, i] as [number, number]))));
    for (let i = 3601; i < 7201; i++) {
      store.applyUpdate(labels.map((l) => series(l, [[t0 + i * S, i]])));
      store.trimBefore(t0 + i * S - 3600 * S);
    }
    expect(store.length).toBe(3601);
    expect(store.xs[0]).toBe(t0 + 3600 * S);
    expect(store.ys.every((ys) => ys.length === 3601 && ys[3600] === 7200)).toBe(true);
  });
});
