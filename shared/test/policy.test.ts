import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { FULL_CUT_BASIS_POINTS, PolicySchema, desiredProbes, policyAppliesTo, waveHash, type Policy } from "../src/policy.ts";

const policy = (overrides: Partial<Policy> & { kind?: Policy["probe"]["kind"] } = {}): Policy => {
  const { kind = "host", ...rest } = overrides;
  return PolicySchema.parse({
    policyId: "pol_a",
    rolloutId: "rol_a",
    probe: { kind, version: "v1", specHash: "h1", params: {} },
    selector: "",
    stage: { cutBasisPoints: FULL_CUT_BASIS_POINTS, agentIds: [] },
    revision: 1,
    updatedAt: 1000,
    ...rest,
  });
};

describe("waveHash", () => {
  it("is stable: the same agent and rollout always land in the same place", () => {
    expect(waveHash("agt_1", "rol_1")).toBe(waveHash("agt_1", "rol_1"));
    // Pinned values (FNV-1a of "agent/rollout" mod 10000): agents and control planes of
    // different versions must agree, and a change would reshuffle every running rollout's waves.
    expect([waveHash("a", "b"), waveHash("b", "a"), waveHash("", "")]).toEqual([4785, 9693, 8254]);
  });

  it("stays in [0, 10000)", () => {
    fc.assert(fc.property(fc.string(), fc.string(), (a, r) => {
      const h = waveHash(a, r);
      return Number.isInteger(h) && h >= 0 && h < FULL_CUT_BASIS_POINTS;
    }));
  });

  it("spreads agents evenly: each 10% cut holds 10% ± 1.5% of 20,000 agents", () => {
    const buckets = new Array(10).fill(0);
    for (let i = 0; i < 20_000; i++) buckets[Math.floor(waveHash(`agt_${i.toString(36).padStart(8, "0")}`, "rol_x") / 1000)]++;
    for (const n of buckets) expect(Math.abs(n - 2000)).toBeLessThan(300);
  });

  it("samples a different canary per rollout", () => {
    const ids = Array.from({ length: 1000 }, (_, i) => `agt_${i}`);
    const canary = (rollout: string) => new Set(ids.filter((id) => waveHash(id, rollout) < 1000));
    const a = canary("rol_a");
    const b = canary("rol_b");
    const overlap = [...a].filter((id) => b.has(id)).length;
    expect(overlap).toBeLessThan(a.size / 3); // independent 10% samples overlap by about 10%
  });
});

describe("policyAppliesTo", () => {
  it("needs the selector to match", () => {
    const p = policy({ selector: "env=prod" });
    expect(policyAppliesTo(p, "agt_1", { env: "prod" })).toBe(true);
    expect(policyAppliesTo(p, "agt_1", { env: "dev" })).toBe(false);
  });

  it("includes an agent below the cut, excludes one at or above it", () => {
    const h = waveHash("agt_1", "rol_a");
    expect(policyAppliesTo(policy({ stage: { cutBasisPoints: h + 1, agentIds: [] } }), "agt_1", {})).toBe(true);
    expect(policyAppliesTo(policy({ stage: { cutBasisPoints: h, agentIds: [] } }), "agt_1", {})).toBe(false);
  });

  it("includes explicit agent ids whatever their hash, but still only if the selector matches", () => {
    const p = policy({ selector: "env=prod", stage: { cutBasisPoints: 0, agentIds: ["agt_1"] } });
    expect(policyAppliesTo(p, "agt_1", { env: "prod" })).toBe(true);
    expect(policyAppliesTo(p, "agt_2", { env: "prod" })).toBe(false);
    expect(policyAppliesTo(p, "agt_1", { env: "dev" })).toBe(false);
  });

  it("the canary only grows: an agent in at cut c is in at every larger cut", () => {
    fc.assert(fc.property(fc.string({ minLength: 1 }), fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 0, max: 10_000 }), (agent, c1, c2) => {
      const [lo, hi] = c1 <= c2 ? [c1, c2] : [c2, c1];
      const inLo = policyAppliesTo(policy({ stage: { cutBasisPoints: lo, agentIds: [] } }), agent, {});
      const inHi = policyAppliesTo(policy({ stage: { cutBasisPoints: hi, agentIds: [] } }), agent, {});
      return !inLo || inHi;
    }));
  });

  it("rejects a policy with a malformed selector when it is parsed", () => {
    const result = PolicySchema.safeParse({ ...policy(), selector: "env in prod" });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toBe('selector "env in prod": at position 7: expected "(" after "in", found "prod"');
  });
});

describe("desiredProbes", () => {
  it("is the union of the matching policies, sorted by kind", () => {
    const { probes, conflicts } = desiredProbes(
      [policy({ policyId: "p1", kind: "tcp_flows" }), policy({ policyId: "p2", kind: "host" }), policy({ policyId: "p3", kind: "oom_kills", selector: "env=prod" })],
      "agt_1",
      { env: "dev" },
    );
    expect(probes.map((p) => [p.kind, p.policyId])).toEqual([["host", "p2"], ["tcp_flows", "p1"]]);
    expect(conflicts).toEqual([]);
  });

  it("resolves two policies for one kind by recency and reports the conflict, in either order", () => {
    const older = policy({ policyId: "old", updatedAt: 1000, probe: { kind: "host", version: "v1", specHash: "h1", params: {} } });
    const newer = policy({ policyId: "new", updatedAt: 2000, probe: { kind: "host", version: "v2", specHash: "h2", params: {} } });
    for (const order of [[older, newer], [newer, older]]) {
      const { probes, conflicts } = desiredProbes(order, "agt_1", {});
      expect(probes).toEqual([expect.objectContaining({ kind: "host", version: "v2", policyId: "new" })]);
      expect(conflicts).toEqual([{ kind: "host", winner: "new", loser: "old" }]);
    }
  });

  it("breaks a tie in updatedAt by policy id, so every agent resolves it the same way", () => {
    const a = policy({ policyId: "pol_a", updatedAt: 5 });
    const b = policy({ policyId: "pol_b", updatedAt: 5 });
    expect(desiredProbes([a, b], "agt", {}).probes[0]!.policyId).toBe("pol_b");
    expect(desiredProbes([b, a], "agt", {}).probes[0]!.policyId).toBe("pol_b");
  });
});
