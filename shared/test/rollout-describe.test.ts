import { describe, expect, it } from "vitest";
import { emptyAgentCounts } from "../src/rollout.ts";
import { formatHealthyPercent, formatPercent, waveStateValues } from "../src/rollout-describe.ts";

// describeRunningPhase is tested through its callers, with their own durations:
// control-plane/test/rollout-format.test.ts (`4m12s`) and web/test/pages/rollout-model.test.ts (`4m 12s`).
describe("rollout descriptions", () => {
  it("formatPercent keeps one decimal at most", () => expect([95, 2.5, 33.333, 0.423, 0].map(formatPercent)).toEqual(["95%", "2.5%", "33.3%", "0.42%", "0%"]));

  it("rounds the healthy share down, so a gate at 94.96% never reads 95%", () => expect(formatHealthyPercent(94.96)).toBe("94.9%"));

  it("counts a wave's agents without a row yet as pending", () => {
    expect(waveStateValues({ ...emptyAgentCounts(), verified: 3, applying: 1, failed: 1 }, 10)).toEqual([3, 0, 1, 1, 0, 0, 5]);
    expect(waveStateValues({ ...emptyAgentCounts(), applied: 4 }, 2)).toEqual([0, 4, 0, 0, 0, 0, 0]);
  });
});
