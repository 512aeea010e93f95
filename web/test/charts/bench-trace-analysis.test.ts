import { describe, expect, it } from "vitest";
import { workPerTick, type TraceEvent } from "../../bench/trace-analysis.ts";

// The UI benchmark's figures come from this: check it on a hand-made trace (times in µs).
const MAIN = { pid: 10, tid: 1 };
const task = (ts: number, dur: number, at = MAIN): TraceEvent => ({ name: "ThreadControllerImpl::RunTask", ph: "X", ts, dur, ...at });
const tick = (ts: number): TraceEvent => ({ name: "ui-bench:tick", ph: "R", ts, ...MAIN });

describe("workPerTick", () => {
  it("takes the longest busy stretch (tasks < 0.1 ms apart merged) and the total per tick", () => {
    const events = [
      tick(1_000_000),
      task(999_990, 5_000), // the task that made the mark
      task(1_005_050, 3_000), // 50 µs later: same stretch → 8.06 ms
      task(1_020_000, 6_000), // after an idle gap: its own stretch
      tick(2_000_000),
      task(2_000_000, 2_000),
      task(2_010_000, 12_000),
    ];
    const work = workPerTick(events, "ui-bench:tick");
    expect(work).toHaveLength(2);
    expect(work[0]!.frameMs).toBeCloseTo(8.06, 5);
    expect(work[0]!.costMs).toBeCloseTo(14, 5);
    expect(work[1]!.frameMs).toBeCloseTo(12, 5);
    expect(work[1]!.costMs).toBeCloseTo(14, 5);
  });

  it("reads only the marking thread, and skips tasks nested in another (a nested run loop)", () => {
    const events = [tick(0), task(0, 10_000), task(2_000, 3_000), task(0, 50_000, { pid: 10, tid: 2 }), task(0, 50_000, { pid: 11, tid: 1 })];
    expect(workPerTick(events, "ui-bench:tick")).toEqual([{ frameMs: 10, costMs: 10 }]);
  });

  it("has nothing to say without marks", () => {
    expect(workPerTick([task(0, 1_000)], "ui-bench:tick")).toEqual([]);
  });
});
