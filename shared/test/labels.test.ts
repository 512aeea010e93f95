import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  LabelError,
  LabelKeySchema,
  LabelsSchema,
  LabelValueSchema,
  mergeLabels,
  parseLabelAssignment,
  validateLabelKey,
  validateLabelValue,
} from "../src/labels.ts";

const NAME_RULE =
  "name must be 63 characters or less, alphanumeric, '-', '_' or '.', starting and ending alphanumeric";
const PREFIX_RULE =
  "prefix must be a DNS subdomain of 253 characters or less: lower-case alphanumeric, '-' or '.', each dot-separated part starting and ending alphanumeric";
const VALUE_RULE =
  "value must be empty or 63 characters or less, alphanumeric, '-', '_' or '.', starting and ending alphanumeric";

describe("validateLabelKey", () => {
  it.each([
    "a",
    "A",
    "9",
    "env",
    "Env_Name.v-2",
    "a".repeat(63),
    "example.com/app",
    "probepilot.io/zone",
    "a/b",
    "x-1.y-2.z/N_a.m-e",
    `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(61)}/name`, // prefix of 253
    "in",
    "notin",
    "constructor",
  ])("accepts %j", (key) => {
    expect(validateLabelKey(key)).toBeNull();
  });

  it.each([
    ["", 'label key "": must not be empty; expected [prefix/]name, e.g. app or example.com/app'],
    ["Foo Bar", `label key "Foo Bar": ${NAME_RULE}`],
    ["-a", `label key "-a": ${NAME_RULE}`],
    ["a-", `label key "a-": ${NAME_RULE}`],
    ["_a", `label key "_a": ${NAME_RULE}`],
    ["a.", `label key "a.": ${NAME_RULE}`],
    ["a$b", `label key "a$b": ${NAME_RULE}`],
    ["é", `label key "é": ${NAME_RULE}`],
    ["a".repeat(64), `label key "${"a".repeat(64)}": ${NAME_RULE} (it has 64)`],
    ["/a", `label key "/a": prefix before '/' must not be empty; ${PREFIX_RULE}`],
    ["example.com/", `label key "example.com/": name after '/' must not be empty; ${NAME_RULE}`],
    ["Example.com/a", `label key "Example.com/a": ${PREFIX_RULE}`],
    ["ex_ample.com/a", `label key "ex_ample.com/a": ${PREFIX_RULE}`],
    ["-example.com/a", `label key "-example.com/a": ${PREFIX_RULE}`],
    ["example..com/a", `label key "example..com/a": ${PREFIX_RULE}`],
    ["example.com./a", `label key "example.com./a": ${PREFIX_RULE}`],
    [`${"a".repeat(254)}/a`, `label key "${"a".repeat(254)}/a": ${PREFIX_RULE}`],
    ["a/b/c", `label key "a/b/c": must contain at most one '/', separating an optional prefix from the name (e.g. example.com/app)`],
    ["example.com/-a", `label key "example.com/-a": ${NAME_RULE}`],
  ])("rejects %j", (key, message) => {
    expect(validateLabelKey(key)).toBe(message);
  });
});

describe("validateLabelValue", () => {
  it.each(["", "a", "prod", "v1.2.3", "A_b-c.d", "a".repeat(63), "in", "9"])("accepts %j", (value) => {
    expect(validateLabelValue(value)).toBeNull();
  });

  it.each([
    ["a b", `label value "a b": ${VALUE_RULE}`],
    ["-a", `label value "-a": ${VALUE_RULE}`],
    ["a_", `label value "a_": ${VALUE_RULE}`],
    ["a/b", `label value "a/b": ${VALUE_RULE}`],
    [" ", `label value " ": ${VALUE_RULE}`],
    ["a".repeat(64), `label value "${"a".repeat(64)}": ${VALUE_RULE} (it has 64)`],
  ])("rejects %j", (value, message) => {
    expect(validateLabelValue(value)).toBe(message);
  });
});

describe("zod schemas", () => {
  it("LabelKeySchema and LabelValueSchema report the validator messages", () => {
    expect(LabelKeySchema.parse("env")).toBe("env");
    expect(LabelValueSchema.parse("")).toBe("");
    expect(LabelKeySchema.safeParse("Foo Bar").error?.issues[0]?.message).toBe(`label key "Foo Bar": ${NAME_RULE}`);
    expect(LabelValueSchema.safeParse("a b").error?.issues[0]?.message).toBe(`label value "a b": ${VALUE_RULE}`);
  });

  it("LabelsSchema accepts a valid label set", () => {
    const labels = { env: "prod", "probepilot.io/zone": "eu-1a", empty: "" };
    expect(LabelsSchema.parse(labels)).toEqual(labels);
    expect(LabelsSchema.parse({})).toEqual({});
  });

  it("LabelsSchema names the bad key and the rule instead of zod's generic 'Invalid key in record'", () => {
    const result = LabelsSchema.safeParse({ "Foo Bar": "x", ok: "a b", good: "yes" });
    expect(result.success).toBe(false);
    const issues = result.error?.issues ?? [];
    expect(issues.map((i) => ({ path: i.path, message: i.message }))).toEqual([
      { path: ["Foo Bar"], message: `label key "Foo Bar": ${NAME_RULE}` },
      { path: ["ok"], message: `label value "a b": ${VALUE_RULE}` },
    ]);
    expect(z.prettifyError(result.error!)).not.toContain("Invalid key in record");
  });

  it("LabelsSchema rejects non-string values and non-objects", () => {
    expect(LabelsSchema.safeParse({ a: 1 }).success).toBe(false);
    expect(LabelsSchema.safeParse("env=prod").success).toBe(false);
    expect(LabelsSchema.safeParse(null).success).toBe(false);
  });
});

describe("parseLabelAssignment", () => {
  it.each([
    ["env=prod", { key: "env", value: "prod" }],
    ["env=", { key: "env", value: "" }],
    ["example.com/zone=eu-1", { key: "example.com/zone", value: "eu-1" }],
  ])("parses %j", (input, expected) => {
    expect(parseLabelAssignment(input)).toEqual(expected);
  });

  it.each([
    ["env", 'label assignment "env": expected key=value, e.g. env=prod'],
    ["", 'label assignment "": expected key=value, e.g. env=prod'],
    ["=prod", 'label assignment "=prod": label key "": must not be empty; expected [prefix/]name, e.g. app or example.com/app'],
    ["Foo Bar=x", `label assignment "Foo Bar=x": label key "Foo Bar": ${NAME_RULE}`],
    ["env=a=b", `label assignment "env=a=b": label value "a=b": ${VALUE_RULE}`],
    ["env = prod", `label assignment "env = prod": label key "env ": ${NAME_RULE}`],
  ])("rejects %j with a LabelError", (input, message) => {
    let thrown: unknown;
    try {
      parseLabelAssignment(input);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(LabelError);
    expect((thrown as LabelError).name).toBe("LabelError");
    expect((thrown as LabelError).message).toBe(message);
  });
});

describe("mergeLabels", () => {
  it("later layers override earlier ones and inputs are untouched", () => {
    const host = { os: "linux", zone: "a" };
    const config = { zone: "b", env: "dev" };
    const operator = { env: "prod" };
    expect(mergeLabels(host, config, operator)).toEqual({ os: "linux", zone: "b", env: "prod" });
    expect(host).toEqual({ os: "linux", zone: "a" });
    expect(config).toEqual({ zone: "b", env: "dev" });
  });

  it("handles no layers and empty layers", () => {
    expect(mergeLabels()).toEqual({});
    expect(mergeLabels({}, { a: "1" }, {})).toEqual({ a: "1" });
  });

  it("returns a new object even for one layer", () => {
    const only = { a: "1" };
    const merged = mergeLabels(only);
    expect(merged).toEqual(only);
    expect(merged).not.toBe(only);
  });

  it("keeps a __proto__ key from untrusted JSON as plain data", () => {
    const hostile = JSON.parse('{"__proto__": {"polluted": "yes"}}') as Record<string, string>;
    const merged = mergeLabels(hostile);
    expect(Object.getPrototypeOf(merged)).toBe(Object.prototype);
    expect((merged as Record<string, unknown>)["polluted"]).toBeUndefined();
  });
});
