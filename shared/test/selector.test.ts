import { describe, expect, it } from "vitest";
import { LabelError } from "../src/labels.ts";
import {
  END_OF_INPUT,
  formatRequirement,
  formatSelector,
  matchesRequirement,
  matchesSelector,
  normalizeSelector,
  parseSelector,
  SelectorStringSchema,
  SelectorSyntaxError,
  tryParseSelector,
  type Requirement,
  type Selector,
} from "../src/selector/index.ts";
import * as shared from "../src/index.ts";

const NAME_RULE =
  "name must be 63 characters or less, alphanumeric, '-', '_' or '.', starting and ending alphanumeric";
const PREFIX_RULE =
  "prefix must be a DNS subdomain of 253 characters or less: lower-case alphanumeric, '-' or '.', each dot-separated part starting and ending alphanumeric";
const VALUE_RULE =
  "value must be empty or 63 characters or less, alphanumeric, '-', '_' or '.', starting and ending alphanumeric";
const OPERATORS = `an operator ("=", "==", "!=", "in" or "notin"), "," or end of input`;

function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected a throw");
}

describe("parseSelector: valid input", () => {
  const cases: Array<[string, Requirement[]]> = [
    // match-all
    ["", []],
    [" ", []],
    [" \t\r\n ", []],
    // every operator
    ["env=prod", [{ op: "eq", key: "env", value: "prod" }]],
    ["env==prod", [{ op: "eq", key: "env", value: "prod" }]],
    ["env!=prod", [{ op: "neq", key: "env", value: "prod" }]],
    ["env in (a,b)", [{ op: "in", key: "env", values: ["a", "b"] }]],
    ["env notin (a,b)", [{ op: "notin", key: "env", values: ["a", "b"] }]],
    ["env", [{ op: "exists", key: "env" }]],
    ["!env", [{ op: "notexists", key: "env" }]],
    ["env in (a)", [{ op: "in", key: "env", values: ["a"] }]],
    // whitespace around every token, including none where tokens cannot merge
    [" env = prod ", [{ op: "eq", key: "env", value: "prod" }]],
    ["env\t==\nprod", [{ op: "eq", key: "env", value: "prod" }]],
    ["env != prod", [{ op: "neq", key: "env", value: "prod" }]],
    ["env in(a,b)", [{ op: "in", key: "env", values: ["a", "b"] }]],
    ["env notin(a,b)", [{ op: "notin", key: "env", values: ["a", "b"] }]],
    ["  env  in  (  a  ,  b  )  ", [{ op: "in", key: "env", values: ["a", "b"] }]],
    ["\r\nenv\r\nnotin\r\n(\r\na\r\n)\r\n", [{ op: "notin", key: "env", values: ["a"] }]],
    ["! env", [{ op: "notexists", key: "env" }]],
    ["  env  ", [{ op: "exists", key: "env" }]],
    // values are de-duplicated in first-seen order
    ["env in (b,a,b,a)", [{ op: "in", key: "env", values: ["b", "a"] }]],
    // empty elements in a set are the empty value, as in Kubernetes
    ["env in (a,)", [{ op: "in", key: "env", values: ["a", ""] }]],
    ["env in (,a)", [{ op: "in", key: "env", values: ["", "a"] }]],
    ["env in (,)", [{ op: "in", key: "env", values: [""] }]],
    ["env notin (a,,b)", [{ op: "notin", key: "env", values: ["a", "", "b"] }]],
    ["env in ( , a , )", [{ op: "in", key: "env", values: ["", "a"] }]],
    // keywords are only keywords in operator position
    ["in=x", [{ op: "eq", key: "in", value: "x" }]],
    ["k=in", [{ op: "eq", key: "k", value: "in" }]],
    ["k=notin", [{ op: "eq", key: "k", value: "notin" }]],
    ["k in (in,notin)", [{ op: "in", key: "k", values: ["in", "notin"] }]],
    ["in", [{ op: "exists", key: "in" }]],
    ["!notin", [{ op: "notexists", key: "notin" }]],
    ["in in (in)", [{ op: "in", key: "in", values: ["in"] }]],
    // prefixed keys and name-like values
    ["probepilot.io/zone=eu-1a", [{ op: "eq", key: "probepilot.io/zone", value: "eu-1a" }]],
    ["k=v1.2_3-RC", [{ op: "eq", key: "k", value: "v1.2_3-RC" }]],
    [`k=${"v".repeat(63)}`, [{ op: "eq", key: "k", value: "v".repeat(63) }]],
    // several requirements, in source order; the same key may repeat
    [
      "a=b,c!=d,e in (f),g notin (h),i,!j",
      [
        { op: "eq", key: "a", value: "b" },
        { op: "neq", key: "c", value: "d" },
        { op: "in", key: "e", values: ["f"] },
        { op: "notin", key: "g", values: ["h"] },
        { op: "exists", key: "i" },
        { op: "notexists", key: "j" },
      ],
    ],
    [
      " a = b , ! c , d ",
      [
        { op: "eq", key: "a", value: "b" },
        { op: "notexists", key: "c" },
        { op: "exists", key: "d" },
      ],
    ],
    [
      "a=b,a=c",
      [
        { op: "eq", key: "a", value: "b" },
        { op: "eq", key: "a", value: "c" },
      ],
    ],
    [
      "env=staging,region in (eu,us)",
      [
        { op: "eq", key: "env", value: "staging" },
        { op: "in", key: "region", values: ["eu", "us"] },
      ],
    ],
  ];

  it.each(cases)("%j", (input, requirements) => {
    expect(parseSelector(input)).toEqual({ requirements });
  });
});

describe("parseSelector: errors", () => {
  // [input, position, expected, found]
  const cases: Array<[string, number, string, string]> = [
    // "in"/"notin" without "("
    ["env in staging", 7, `"(" after "in"`, "staging"],
    ["env notin staging", 10, `"(" after "notin"`, "staging"],
    ["env in", 6, `"(" after "in"`, END_OF_INPUT],
    ["env notin", 9, `"(" after "notin"`, END_OF_INPUT],
    ["env in in (a)", 7, `"(" after "in"`, "in"],
    ["env in )", 7, `"(" after "in"`, ")"],
    // unterminated "("
    ["env in (a,b", 11, `"," or ")" to close the "(" at position 7`, END_OF_INPUT],
    ["env in (a", 9, `"," or ")" to close the "(" at position 7`, END_OF_INPUT],
    ["env in (", 8, `a value or ")" to close the "(" at position 7`, END_OF_INPUT],
    ["env in (a,", 10, `a value or ")" to close the "(" at position 7`, END_OF_INPUT],
    ["env notin(a ", 12, `"," or ")" to close the "(" at position 9`, END_OF_INPUT],
    // empty set list
    ["env in ()", 8, `a value after "(" (a set needs at least one value)`, ")"],
    ["env notin ( )", 12, `a value after "(" (a set needs at least one value)`, ")"],
    // bad set contents
    ["env in (a b)", 10, `"," or ")"`, "b"],
    ["env in (a,=)", 10, `a value, "," or ")"`, "="],
    ["env in ((a))", 8, `a value, "," or ")"`, "("],
    ["env in (a!)", 9, `"," or ")"`, "!"],
    ["env in (-a)", 8, `a valid label value (${VALUE_RULE})`, "-a"],
    ["env in (a,b c", 12, `"," or ")"`, "c"],
    // missing value after an operator
    ["env=", 4, `a value after "="`, END_OF_INPUT],
    ["env==", 5, `a value after "=="`, END_OF_INPUT],
    ["env!=", 5, `a value after "!="`, END_OF_INPUT],
    ["env= ", 5, `a value after "="`, END_OF_INPUT],
    ["env=,a=b", 4, `a value after "="`, ","],
    ["env=(a)", 4, `a value after "="`, "("],
    // double operators
    ["env===prod", 5, `a value after "=="`, "="],
    ["env=!prod", 4, `a value after "="`, "!"],
    ["env=!=prod", 4, `a value after "="`, "!="],
    ["env!==prod", 5, `a value after "!="`, "="],
    ["env = = prod", 6, `a value after "="`, "="],
    ["env=a=b", 5, `"," or end of input after "env=a"`, "="],
    ["env in in", 7, `"(" after "in"`, "in"],
    // a requirement not followed by "," or the end
    ["a=b c=d", 4, `"," or end of input after "a=b"`, "c"],
    ["a in (b) c", 9, `"," or end of input after "a in (b)"`, "c"],
    ["a in (b)(c)", 8, `"," or end of input after "a in (b)"`, "("],
    ["a in (b))", 8, `"," or end of input after "a in (b)"`, ")"],
    // unknown or misplaced operators
    ["k > 1", 2, `${OPERATORS} after "k"`, ">"],
    ["k<1", 1, `${OPERATORS} after "k"`, "<"],
    ["k IN (a)", 2, `${OPERATORS} after "k"`, "IN"],
    ["Foo Bar", 4, `${OPERATORS} after "Foo"`, "Bar"],
    ["k)", 1, `${OPERATORS} after "k"`, ")"],
    ["k!v", 1, `${OPERATORS} after "k"`, "!"],
    ["k (a)", 2, `${OPERATORS} after "k"`, "("],
    // "!" followed by nothing, or by more than a key
    ["!", 1, `a label key after "!"`, END_OF_INPUT],
    ["! ", 2, `a label key after "!"`, END_OF_INPUT],
    ["a=b,!", 5, `a label key after "!"`, END_OF_INPUT],
    ["!!k", 1, `a label key after "!"`, "!"],
    ["!=k", 0, `a label key or "!"`, "!="],
    ["!(k)", 1, `a label key after "!"`, "("],
    ["!k=v", 2, `"," or end of input after "!k"`, "="],
    ["!k in (a)", 3, `"," or end of input after "!k"`, "in"],
    ["! k != v", 4, `"," or end of input after "! k"`, "!="],
    // commas
    ["a=b,", 4, `a label key or "!" after ","`, END_OF_INPUT],
    ["a=b, ", 5, `a label key or "!" after ","`, END_OF_INPUT],
    [",a=b", 0, `a label key or "!"`, ","],
    ["  ,", 2, `a label key or "!"`, ","],
    ["a=b,,c=d", 4, `a label key or "!" after ","`, ","],
    ["=v", 0, `a label key or "!"`, "="],
    ["(a)", 0, `a label key or "!"`, "("],
    // bad keys
    ["en$v=x", 0, `a valid label key (${NAME_RULE})`, "en$v"],
    ["-env", 0, `a valid label key (${NAME_RULE})`, "-env"],
    ["!_env", 1, `a valid label key (${NAME_RULE})`, "_env"],
    ["a=b,Env.=c", 4, `a valid label key (${NAME_RULE})`, "Env."],
    ["Example.com/app=x", 0, `a valid label key (${PREFIX_RULE})`, "Example.com/app"],
    ["a_b/c in (x)", 0, `a valid label key (${PREFIX_RULE})`, "a_b/c"],
    ["/c", 0, `a valid label key (prefix before '/' must not be empty; ${PREFIX_RULE})`, "/c"],
    ["a/", 0, `a valid label key (name after '/' must not be empty; ${NAME_RULE})`, "a/"],
    [
      "a/b/c",
      0,
      `a valid label key (must contain at most one '/', separating an optional prefix from the name (e.g. example.com/app))`,
      "a/b/c",
    ],
    [`${"k".repeat(64)}=v`, 0, `a valid label key (${NAME_RULE} (it has 64))`, "k".repeat(64)],
    ["ключ=v", 0, `a valid label key (${NAME_RULE})`, "ключ"],
    // bad values
    [`k=${"v".repeat(64)}`, 2, `a valid label value (${VALUE_RULE} (it has 64))`, "v".repeat(64)],
    [`k in (a,${"v".repeat(64)})`, 8, `a valid label value (${VALUE_RULE} (it has 64))`, "v".repeat(64)],
    ["k=-v", 2, `a valid label value (${VALUE_RULE})`, "-v"],
    ["k!=a/b", 3, `a valid label value (${VALUE_RULE})`, "a/b"],
    ["k=prod\u00a0", 2, `a valid label value (${VALUE_RULE})`, "prod\u00a0"], // NBSP is not whitespace
  ];

  it.each(cases)("%j at %i: expected %s, found %j", (input, position, expected, found) => {
    const err = thrownBy(() => parseSelector(input));
    expect(err).toBeInstanceOf(SelectorSyntaxError);
    const e = err as SelectorSyntaxError;
    expect({ input: e.input, position: e.position, expected: e.expected, found: e.found }).toEqual({
      input,
      position,
      expected,
      found,
    });
    const shown = found === END_OF_INPUT ? END_OF_INPUT : JSON.stringify(found);
    expect(e.message).toBe(`selector ${JSON.stringify(input)}: at position ${position}: expected ${expected}, found ${shown}`);
  });

  it("reads like the house-style example", () => {
    const err = thrownBy(() => parseSelector("env in staging")) as SelectorSyntaxError;
    expect(err.name).toBe("SelectorSyntaxError");
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toBe(`selector "env in staging": at position 7: expected "(" after "in", found "staging"`);
  });
});

describe("tryParseSelector", () => {
  it("returns the selector on success", () => {
    expect(tryParseSelector("env=prod")).toEqual({
      ok: true,
      selector: { requirements: [{ op: "eq", key: "env", value: "prod" }] },
    });
  });

  it("returns the error as plain data on failure", () => {
    expect(tryParseSelector("env in (a")).toEqual({
      ok: false,
      error: {
        message: `selector "env in (a": at position 9: expected "," or ")" to close the "(" at position 7, found end of input`,
        position: 9,
        expected: `"," or ")" to close the "(" at position 7`,
        found: END_OF_INPUT,
      },
    });
  });
});

describe("formatSelector and normalizeSelector", () => {
  it.each([
    ["", ""],
    ["   ", ""],
    ["env=prod", "env=prod"],
    ["env==prod", "env=prod"],
    [" env != prod ", "env!=prod"],
    ["env in (b, a, b)", "env in (a,b)"],
    ["env notin(b,a)", "env notin (a,b)"],
    [" env ", "env"],
    ["! env", "!env"],
    // requirements sorted by key, then text; exact duplicates dropped
    ["b=2, a in (y,x,y)", "a in (x,y),b=2"],
    ["k, !k", "!k,k"],
    ["a=b,a=b,a==b", "a=b"],
    ["z,y,x=1,w!=2", "w!=2,x=1,y,z"],
    ["a=2,a=1", "a=1,a=2"],
    // empty values use the set form: "k=" does not parse and "()" is rejected
    ["k in (a,)", "k in (,a)"],
    ["k in (,)", "k in (,)"],
    ["k notin (,,a)", "k notin (,a)"],
    ["probepilot.io/zone in (eu-1,eu-2)", "probepilot.io/zone in (eu-1,eu-2)"],
  ])("%j → %j", (input, canonical) => {
    expect(normalizeSelector(input)).toBe(canonical);
    expect(normalizeSelector(canonical)).toBe(canonical);
  });

  it.each<[Requirement, string]>([
    [{ op: "eq", key: "k", value: "v" }, "k=v"],
    [{ op: "neq", key: "k", value: "v" }, "k!=v"],
    [{ op: "in", key: "k", values: ["b", "a", "a"] }, "k in (a,b)"],
    [{ op: "notin", key: "k", values: ["a"] }, "k notin (a)"],
    [{ op: "exists", key: "k" }, "k"],
    [{ op: "notexists", key: "k" }, "!k"],
    [{ op: "eq", key: "k", value: "" }, "k in (,)"],
    [{ op: "neq", key: "k", value: "" }, "k notin (,)"],
  ])("formatRequirement(%j) = %j", (req, text) => {
    expect(formatRequirement(req)).toBe(text);
  });

  it("formats the match-all selector as the empty string", () => {
    expect(formatSelector({ requirements: [] })).toBe("");
  });

  it.each<[Selector, string]>([
    [{ requirements: [{ op: "exists", key: "Foo Bar" }] }, `selector requirement on label key "Foo Bar": ${NAME_RULE}`],
    [
      { requirements: [{ op: "eq", key: "k", value: "a b" }] },
      `selector requirement on label key "k": label value "a b": ${VALUE_RULE}`,
    ],
    [
      { requirements: [{ op: "in", key: "k", values: ["ok", "not ok"] }] },
      `selector requirement on label key "k": label value "not ok": ${VALUE_RULE}`,
    ],
    [{ requirements: [{ op: "in", key: "k", values: [] }] }, `selector requirement on label key "k": "in" needs at least one value`],
    [{ requirements: [{ op: "notin", key: "k", values: [] }] }, `selector requirement on label key "k": "notin" needs at least one value`],
  ])("refuses to format a hand-built selector with no text form: %j", (selector, message) => {
    const err = thrownBy(() => formatSelector(selector));
    expect(err).toBeInstanceOf(LabelError);
    expect((err as Error).message).toBe(message);
  });

  it("normalizeSelector throws SelectorSyntaxError for bad input", () => {
    expect(thrownBy(() => normalizeSelector("a=b,"))).toBeInstanceOf(SelectorSyntaxError);
  });
});

describe("matchesSelector", () => {
  // Label sets covering: key absent, present with the value, present with another value, present empty.
  const absent = {};
  const other = { other: "a" };
  const isA = { k: "a" };
  const isB = { k: "b" };
  const isC = { k: "c" };
  const isEmpty = { k: "" };

  it.each<[string, Record<string, string>, boolean]>([
    // eq: key must be present with the value
    ["k=a", absent, false],
    ["k=a", other, false],
    ["k=a", isA, true],
    ["k=a", isB, false],
    ["k=a", isEmpty, false],
    ["k==a", isA, true],
    // neq: true when absent
    ["k!=a", absent, true],
    ["k!=a", other, true],
    ["k!=a", isA, false],
    ["k!=a", isB, true],
    ["k!=a", isEmpty, true],
    // in: key must be present with one of the values
    ["k in (a,b)", absent, false],
    ["k in (a,b)", other, false],
    ["k in (a,b)", isA, true],
    ["k in (a,b)", isB, true],
    ["k in (a,b)", isC, false],
    ["k in (a,b)", isEmpty, false],
    ["k in (a,)", isEmpty, true],
    ["k in (,)", isEmpty, true],
    ["k in (,)", absent, false],
    // notin: true when absent
    ["k notin (a,b)", absent, true],
    ["k notin (a,b)", other, true],
    ["k notin (a,b)", isA, false],
    ["k notin (a,b)", isB, false],
    ["k notin (a,b)", isC, true],
    ["k notin (a,b)", isEmpty, true],
    ["k notin (,)", isEmpty, false],
    ["k notin (,)", absent, true],
    // exists / notexists: presence only, an empty value counts as present
    ["k", absent, false],
    ["k", other, false],
    ["k", isA, true],
    ["k", isEmpty, true],
    ["!k", absent, true],
    ["!k", other, true],
    ["!k", isA, false],
    ["!k", isEmpty, false],
    // match-all
    ["", absent, true],
    ["", isA, true],
    // conjunction
    ["k=a,other=a", { k: "a", other: "a" }, true],
    ["k=a,other=a", isA, false],
    ["k=a,!other", isA, true],
    ["k=a,!other", { k: "a", other: "x" }, false],
    ["k in (a,b),k!=b", isB, false],
    ["k in (a,b),k!=b", isA, true],
    ["k=a,k=b", isA, false],
    ["env=staging,region in (eu,us)", { env: "staging", region: "eu", host: "h1" }, true],
    ["env=staging,region in (eu,us)", { env: "staging", region: "ap" }, false],
    ["env=staging,region in (eu,us)", { env: "staging" }, false],
    ["env=staging,region notin (eu,us)", { env: "staging" }, true],
    // keys are case-sensitive
    ["K=a", isA, false],
    ["k=A", isA, false],
  ])("%j on %j → %s", (text, labels, expected) => {
    expect(matchesSelector(parseSelector(text), labels)).toBe(expected);
  });

  it("only sees own properties, not Object.prototype's", () => {
    expect(matchesSelector(parseSelector("constructor"), {})).toBe(false);
    expect(matchesSelector(parseSelector("!toString"), {})).toBe(true);
    expect(matchesSelector(parseSelector("hasOwnProperty!=x"), {})).toBe(true);
    expect(matchesSelector(parseSelector("constructor"), { constructor: "x" })).toBe(true);
    const noProto = Object.assign(Object.create(null) as Record<string, string>, { k: "a" });
    expect(matchesSelector(parseSelector("k=a"), noProto)).toBe(true);
  });

  it("matchesRequirement evaluates a single requirement", () => {
    expect(matchesRequirement({ op: "in", key: "k", values: ["a"] }, isA)).toBe(true);
    expect(matchesRequirement({ op: "notin", key: "k", values: ["a"] }, absent)).toBe(true);
  });
});

describe("SelectorStringSchema", () => {
  it("accepts valid selector text unchanged", () => {
    expect(SelectorStringSchema.parse(" env = prod ")).toBe(" env = prod ");
    expect(SelectorStringSchema.parse("")).toBe("");
  });

  it("reports the SelectorSyntaxError message", () => {
    const result = SelectorStringSchema.safeParse("env in staging");
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => i.message)).toEqual([
      `selector "env in staging": at position 7: expected "(" after "in", found "staging"`,
    ]);
  });

  it("rejects non-strings", () => {
    expect(SelectorStringSchema.safeParse(42).success).toBe(false);
  });
});

describe("package entry", () => {
  it("re-exports labels and selectors", () => {
    expect(shared.parseSelector).toBe(parseSelector);
    expect(shared.matchesSelector).toBe(matchesSelector);
    expect(typeof shared.parseLabelAssignment).toBe("function");
    expect(shared.LabelsSchema).toBeDefined();
  });
});
