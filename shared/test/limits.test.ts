import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  ECHO_MAX_CHARS,
  AgentConfigSchema,
  AgentStatusMessageSchema,
  EFFECTIVE_LABELS_MAX_BYTES,
  EFFECTIVE_LABELS_MAX_COUNT,
  LABELS_MAX_BYTES,
  LABELS_MAX_COUNT,
  LABEL_NAME_MAX_LENGTH,
  LabelChangesSchema,
  LabelsSchema,
  NATS_DEFAULT_MAX_PAYLOAD,
  PROBE_PARAMS_MAX_COUNT,
  ProbeSpecSchema,
  SELECTOR_MAX_LENGTH,
  SELECTOR_MAX_REQUIREMENTS,
  SELECTOR_MAX_VALUES,
  SelectorStringSchema,
  SelectorSyntaxError,
  WavesSchema,
  describeZodError,
  boundedZodIssues,
  parseSelector,
  tryParseSelector,
  utf8Length,
} from "../src/index.ts";

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** The error parseSelector throws for `text`. */
function selectorError(text: string): SelectorSyntaxError {
  try {
    parseSelector(text);
  } catch (err) {
    if (err instanceof SelectorSyntaxError) return err;
    throw err;
  }
  throw new Error("expected the selector to be refused");
}

describe("selector limits", () => {
  it("accepts a selector at every limit", () => {
    const values = range(SELECTOR_MAX_VALUES).map((i) => `v${i}`);
    const atLimits = [`k in (${values.join(",")})`, ...range(SELECTOR_MAX_REQUIREMENTS - 1).map((i) => `k${i}`)].join(",");
    expect(atLimits.length).toBeLessThanOrEqual(SELECTOR_MAX_LENGTH);
    const parsed = parseSelector(atLimits);
    expect(parsed.requirements).toHaveLength(SELECTOR_MAX_REQUIREMENTS);
    expect(parsed.requirements[0]).toEqual({ op: "in", key: "k", values });
    // The longest: one set of 60-character values, padded by a last requirement to exactly 8,192 characters.
    const set = `k in (${range(134).map((i) => `v${i}`.padEnd(60, "x")).join(",")})`;
    const longest = `${set},${"a".repeat(SELECTOR_MAX_LENGTH - set.length - 1)}`;
    expect(SELECTOR_MAX_LENGTH - set.length - 1).toBeLessThanOrEqual(LABEL_NAME_MAX_LENGTH);
    expect(longest).toHaveLength(SELECTOR_MAX_LENGTH);
    expect(parseSelector(longest).requirements).toHaveLength(2);
  });

  it("refuses the issue's 70,000-value `in` by its length, saying how long it is, without echoing it", () => {
    const text = `k in (${range(70_000).map((i) => `v${i}`).join(",")})`;
    const err = selectorError(text);
    expect(err.message).toBe(`selector "${text.slice(0, 100)}"… (${text.length.toLocaleString("en-US")} characters): too long: at most 8,192 characters (${text.length.toLocaleString("en-US")} given)`);
    expect(err.message.length).toBeLessThan(300);
    expect(err.toInfo()).toMatchObject({ position: SELECTOR_MAX_LENGTH, expected: "at most 8,192 characters" });
  });

  it("refuses the issue's 20,000-requirement selector", () => {
    const err = selectorError(range(20_000).map((i) => `k${i}=v`).join(","));
    expect(err.message).toMatch(/too long: at most 8,192 characters \(\d{3},\d{3} given\)$/);
  });

  it("refuses one requirement too many, with the count", () => {
    const text = range(SELECTOR_MAX_REQUIREMENTS + 6).map((i) => `k${i}`).join(",");
    const err = selectorError(text);
    expect(err.message).toBe(`selector "${text.slice(0, 100)}"… (${text.length} characters): at most 64 requirements (70 given); one "key in (a,b)" takes several values of a key`);
    expect(err.position).toBe(text.indexOf("k64"));
  });

  it("refuses one value too many in a set, with the count, for in and notin", () => {
    for (const op of ["in", "notin"]) {
      const text = `env=prod,k ${op} (${range(SELECTOR_MAX_VALUES + 1).map((i) => `v${i}`).join(",")})`;
      const err = selectorError(text);
      expect(err.message).toMatch(new RegExp(`: at position 11: at most 256 values in one "${op}" set \\(257 given\\)$`));
      expect(err.position).toBe(text.indexOf("v256"));
    }
    // Duplicates count as written: what was sent is what is bounded.
    expect(selectorError(`k in (${Array(SELECTOR_MAX_VALUES + 1).fill("a").join(",")})`).message).toMatch(/\(257 given\)$/);
  });

  it("a syntax error in long text quotes its start, not the whole text", () => {
    const text = `${range(60).map((i) => `k${i}=${"v".repeat(60)}`).join(",")},k in x`;
    const err = selectorError(text);
    expect(err.message.length).toBeLessThan(400);
    expect(err.message).toMatch(/^selector "k0=v+,k1=v+"… \(\d,\d{3} characters\): at position \d+: expected "\(" after "in", found "x"$/);
  });

  it("SelectorStringSchema and tryParseSelector report the limit as data", () => {
    const text = "a".repeat(SELECTOR_MAX_LENGTH + 1);
    expect(SelectorStringSchema.safeParse(text).error?.issues[0]?.message).toMatch(/too long: at most 8,192 characters \(8,193 given\)$/);
    expect(tryParseSelector(text)).toMatchObject({ ok: false, error: { position: SELECTOR_MAX_LENGTH, found: "8,193 characters" } });
  });
});

/** A label key of exactly `length` characters (a DNS prefix, "/", a name), valid. */
function keyOfLength(length: number, seed: number): string {
  const name = `n${seed}`.padEnd(Math.min(LABEL_NAME_MAX_LENGTH, length), "x");
  if (length <= LABEL_NAME_MAX_LENGTH) return name;
  const prefixLength = length - name.length - 1;
  return `${"p".repeat(prefixLength)}/${name}`;
}

describe("label set limits", () => {
  it("accepts a set at both limits, and refuses one label more or one byte more, with the counts", () => {
    const full = Object.fromEntries(range(LABELS_MAX_COUNT).map((i) => [`key${i}`, "v".repeat(LABEL_NAME_MAX_LENGTH)]));
    expect(LabelsSchema.safeParse(full).success).toBe(true);
    expect(LabelsSchema.safeParse({ ...full, one: "more" }).error?.issues.map((i) => i.message)).toEqual(["at most 128 labels in one label set (129 given)"]);

    // 64 keys of 254 characters with 2-character values: exactly 16,384 bytes.
    const bytesFull = Object.fromEntries(range(64).map((i) => [keyOfLength(254, i), "vv"]));
    const bytes = Object.entries(bytesFull).reduce((n, [k, v]) => n + utf8Length(k) + utf8Length(v), 0);
    expect(bytes).toBe(LABELS_MAX_BYTES);
    expect(LabelsSchema.safeParse(bytesFull).success).toBe(true);
    const over = { ...bytesFull, [Object.keys(bytesFull)[0]!]: "vvv" };
    expect(LabelsSchema.safeParse(over).error?.issues.map((i) => i.message)).toEqual(["at most 16,384 bytes of label keys and values in one label set (16,385 given)"]);
  });

  it("refuses 70,000 labels with one issue, before looking at any key", () => {
    const labels = Object.fromEntries(range(70_000).map((i) => [`Bad Key ${i}`, "v"]));
    for (const schema of [LabelsSchema, LabelChangesSchema]) {
      const issues = schema.safeParse(labels).error!.issues;
      expect(issues).toHaveLength(1);
      expect(issues[0]!.message).toBe("at most 128 labels in one label set (70,000 given)");
    }
  });

  it("changes count their removals as labels", () => {
    const changes = Object.fromEntries(range(LABELS_MAX_COUNT + 1).map((i) => [`k${i}`, null]));
    expect(LabelChangesSchema.safeParse(changes).error?.issues[0]?.message).toBe("at most 128 labels in one label set (129 given)");
    expect(LabelChangesSchema.safeParse({ a: null, b: "x" }).data).toEqual({ a: null, b: "x" });
  });

  it("an agent's effective labels (host, user and central merged) may hold three sets' worth", () => {
    const labels = Object.fromEntries(range(EFFECTIVE_LABELS_MAX_COUNT).map((i) => [`k${i}`, "v"]));
    const status = {
      type: "heartbeat", agentId: "agt_x", tenantId: "ten_x", instanceId: "i", seq: 0, at: 0, uptimeSec: 1, heartbeatIntervalSec: 10,
      labels, appliedPolicies: {}, probes: [],
    };
    expect(AgentStatusMessageSchema.safeParse(status).success).toBe(true);
    expect(AgentStatusMessageSchema.safeParse({ ...status, labels: { ...labels, more: "x" } }).success).toBe(false);
    expect(EFFECTIVE_LABELS_MAX_BYTES).toBe(3 * LABELS_MAX_BYTES);
  });

  it("any central label set that passes validation fits in the agent's NATS config message many times over", () => {
    // The largest config message: the most labels, the most bytes, JSON's worst case for what labels may
    // contain (no escaping: label characters are [A-Za-z0-9-_./]), and a huge revision.
    const worst = (count: number, keyLength: number) =>
      Object.fromEntries(range(count).map((i) => [keyOfLength(keyLength, i), "v".repeat(LABEL_NAME_MAX_LENGTH)]));
    const candidates = [worst(LABELS_MAX_COUNT, 60), worst(16_384 / (317 + 63) + 1, 317), worst(LABELS_MAX_COUNT, 1)];
    let largest = 0;
    for (const labels of candidates) {
      const parsed = AgentConfigSchema.safeParse({ centralLabels: labels, revision: Number.MAX_SAFE_INTEGER });
      if (!parsed.success) continue; // over the byte limit: refused, so never sent
      largest = Math.max(largest, new TextEncoder().encode(JSON.stringify(parsed.data)).length);
    }
    expect(largest).toBeGreaterThan(10_000);
    // The byte limit plus JSON's 6 bytes of quotes, colon and comma per label and the envelope.
    expect(largest).toBeLessThanOrEqual(LABELS_MAX_BYTES + 6 * LABELS_MAX_COUNT + 64);
    expect(largest * 16).toBeLessThan(NATS_DEFAULT_MAX_PAYLOAD);

    // And the same for random valid sets.
    fc.assert(
      fc.property(fc.dictionary(fc.stringMatching(/^[a-z0-9]([a-z0-9.-]{0,60}[a-z0-9])?$/), fc.stringMatching(/^([a-z0-9]([a-z0-9_.-]{0,61}[a-z0-9])?)?$/), { maxKeys: 200 }), (labels) => {
        const parsed = AgentConfigSchema.safeParse({ centralLabels: labels, revision: 1 });
        if (parsed.success) expect(JSON.stringify(parsed.data).length).toBeLessThan(NATS_DEFAULT_MAX_PAYLOAD / 16);
      }),
    );
  });
});

describe("other list inputs are counted before their elements", () => {
  it("waves: at most 20, one issue for 70,000", () => {
    const issues = WavesSchema.safeParse(range(70_000).map((i) => ({ percent: i }))).error!.issues;
    expect(issues.map((i) => i.message)).toEqual(["a rollout has at most 20 waves (70,000 given)"]);
    expect(WavesSchema.safeParse(range(20).map((i) => ({ percent: (i + 1) * 5 }))).success).toBe(true);
    expect(WavesSchema.safeParse([{ count: 1_000_001 }]).error?.issues[0]?.message).toMatch(/at most 1,000,000 agents/);
  });

  it("probe parameters: at most 32 names, each at most 64 characters", () => {
    const many = Object.fromEntries(range(5_000).map((i) => [`p${i}`, i]));
    expect(ProbeSpecSchema.safeParse({ kind: "host", params: many }).error?.issues.map((i) => i.message)).toEqual([`at most ${PROBE_PARAMS_MAX_COUNT} parameters (5,000 given)`]);
    expect(ProbeSpecSchema.safeParse({ kind: "host", params: { ["x".repeat(65)]: 1 } }).success).toBe(false);
    expect(ProbeSpecSchema.parse({ kind: "host", params: { intervalMs: 5 } })).toEqual({ kind: "host", params: { intervalMs: 5 } });
  });
});

describe("validation messages stay short whatever the input", () => {
  it("describeZodError cuts record keys in paths and long messages, and counts the issues it leaves out", () => {
    const result = LabelsSchema.safeParse(Object.fromEntries(range(100).map((i) => [`${"K".repeat(10_000)}${i}`, "v"])));
    expect(result.success).toBe(false);
    // 100 keys but over the byte limit: one issue, no key in it.
    expect(describeZodError(result.error!)).toBe("(root): at most 16,384 bytes of label keys and values in one label set (1,000,290 given)");
    const bad = LabelsSchema.safeParse(Object.fromEntries(range(10).map((i) => [`Bad ${i}`, "v".repeat(1000)])));
    const line = describeZodError(bad.error!);
    expect(line.length).toBeLessThan(5 * 700);
    expect(line).toMatch(/; and \d+ more issues$/);
  });

  it("boundedZodIssues keeps 20 issues, cut, without their input", () => {
    const bad = LabelsSchema.safeParse(Object.fromEntries(range(100).map((i) => [`Bad ${i} ${"x".repeat(100)}`, "v"])));
    expect(bad.success).toBe(false);
    const issues = boundedZodIssues(bad.error!.issues);
    expect(issues.length).toBeLessThanOrEqual(20);
    expect(JSON.stringify(issues).length).toBeLessThan(20 * 1000);
    // A segment is a record key: quoted whole up to ECHO_MAX_CHARS (320: any valid key fits), cut beyond.
    for (const issue of issues) for (const segment of issue.path) expect(String(segment).length).toBeLessThan(ECHO_MAX_CHARS + 30);
  });
});
