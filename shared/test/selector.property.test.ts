import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { validateLabelKey, validateLabelValue } from "../src/labels.ts";
import {
  END_OF_INPUT,
  formatSelector,
  matchesSelector,
  parseSelector,
  SelectorSyntaxError,
  type Requirement,
  type Selector,
} from "../src/selector/index.ts";

// ---------------------------------------------------------------------------------------------
// Generators

// Small pools make label sets and selectors collide on keys and values often enough to matter;
// "in"/"notin" check that keywords work as plain keys and values.
const KEY_POOL = ["env", "region", "in", "notin", "probepilot.io/zone", "A.b-c_d", "constructor"];
const VALUE_POOL = ["", "a", "b", "prod", "in", "notin", "v1.2-rc_3"];

const nameArb = fc.stringMatching(/^[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/);
const prefixArb = fc.stringMatching(/^[a-z0-9](?:[-a-z0-9]{0,8}[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]{0,8}[a-z0-9])?){0,3}$/);
const keyArb = fc
  .oneof(
    fc.constantFrom(...KEY_POOL),
    nameArb,
    fc.tuple(prefixArb, nameArb).map(([p, n]) => `${p}/${n}`),
  )
  .filter((k) => validateLabelKey(k) === null);
const valueArb = fc.oneof(fc.constantFrom(...VALUE_POOL), nameArb).filter((v) => validateLabelValue(v) === null);
const nonEmptyValueArb = valueArb.filter((v) => v !== "");

function requirementArb(value: fc.Arbitrary<string>, setValue: fc.Arbitrary<string>): fc.Arbitrary<Requirement> {
  const values = fc.array(setValue, { minLength: 1, maxLength: 4 });
  return fc.oneof(
    fc.record({ op: fc.constant("eq" as const), key: keyArb, value }),
    fc.record({ op: fc.constant("neq" as const), key: keyArb, value }),
    fc.record({ op: fc.constant("in" as const), key: keyArb, values }),
    fc.record({ op: fc.constant("notin" as const), key: keyArb, values }),
    fc.record({ op: fc.constant("exists" as const), key: keyArb }),
    fc.record({ op: fc.constant("notexists" as const), key: keyArb }),
  );
}

const selectorArb: fc.Arbitrary<Selector> = fc.record({
  requirements: fc.array(requirementArb(valueArb, valueArb), { maxLength: 5 }),
});

function keysOf(sel: Selector): string[] {
  return sel.requirements.map((r) => r.key);
}
function valuesOf(sel: Selector): string[] {
  return sel.requirements.flatMap((r) => ("value" in r ? [r.value] : "values" in r ? r.values : []));
}

/** Label sets drawn from the selector's own keys and values plus the pools, so every branch gets hit. */
function labelSetsFor(sel: Selector): fc.Arbitrary<Array<Record<string, string>>> {
  const keys = [...new Set([...keysOf(sel), ...KEY_POOL])];
  const values = [...new Set([...valuesOf(sel), ...VALUE_POOL])];
  const labels = fc
    .array(fc.tuple(fc.constantFrom(...keys), fc.constantFrom(...values)), { maxLength: 8 })
    .map((entries) => Object.fromEntries(entries));
  return fc.array(labels, { minLength: 1, maxLength: 10 });
}

const selectorWithLabelSets = selectorArb.chain((sel) => fc.tuple(fc.constant(sel), labelSetsFor(sel)));

// ---------------------------------------------------------------------------------------------
// Reference matcher, written from the Kubernetes rules (Requirement.Matches) rather than from ours:
// every requirement becomes "key, operator, value set"; positive operators need the key,
// negative operators are satisfied by its absence.

function referenceMatches(sel: Selector, labels: Record<string, string>): boolean {
  const present = new Map(Object.entries(labels));
  return sel.requirements.every((r) => {
    const set = new Set(r.op === "eq" || r.op === "neq" ? [r.value] : r.op === "in" || r.op === "notin" ? r.values : []);
    const has = present.has(r.key);
    const value = present.get(r.key);
    if (r.op === "exists") return has;
    if (r.op === "notexists") return !has;
    if (r.op === "eq" || r.op === "in") return has && set.has(value as string);
    return !has || !set.has(value as string);
  });
}

// ---------------------------------------------------------------------------------------------
// Tokens and whitespace

const WS = fc.string({ unit: fc.constantFrom(" ", "\t", "\r", "\n"), maxLength: 3 });
const WS1 = fc.string({ unit: fc.constantFrom(" ", "\t", "\r", "\n"), minLength: 1, maxLength: 3 });

/** The token sequence of a selector (eq/neq values non-empty; an empty set element is no token). */
function tokensOf(sel: Selector, doubleEquals: boolean): string[] {
  const out: string[] = [];
  sel.requirements.forEach((r, i) => {
    if (i > 0) out.push(",");
    switch (r.op) {
      case "eq":
        out.push(r.key, doubleEquals ? "==" : "=", r.value);
        break;
      case "neq":
        out.push(r.key, "!=", r.value);
        break;
      case "in":
      case "notin":
        out.push(r.key, r.op, "(");
        // A lone empty element needs its comma: "()" is an error, "(,)" is {""}.
        if (r.values.length === 1 && r.values[0] === "") out.push(",");
        r.values.forEach((v, j) => {
          if (j > 0) out.push(",");
          if (v !== "") out.push(v);
        });
        out.push(")");
        break;
      case "exists":
        out.push(r.key);
        break;
      case "notexists":
        out.push("!", r.key);
        break;
    }
  });
  return out;
}

const isWord = (token: string) => !["=", "==", "!=", "!", "(", ")", ","].includes(token);

// ---------------------------------------------------------------------------------------------

describe("selector properties", () => {
  it("(a) format → parse matches the same label sets, and formatting is idempotent", () => {
    fc.assert(
      fc.property(selectorWithLabelSets, ([sel, labelSets]) => {
        const text = formatSelector(sel);
        const reparsed = parseSelector(text);
        for (const labels of labelSets) {
          expect(matchesSelector(reparsed, labels)).toBe(matchesSelector(sel, labels));
        }
        expect(formatSelector(reparsed)).toBe(text);
      }),
      { numRuns: 500 },
    );
  });

  it("(a') formatting does not depend on requirement or set-value order", () => {
    fc.assert(
      fc.property(selectorArb, fc.integer(), (sel, seed) => {
        const shuffled = shuffle(
          sel.requirements.map((r) => ("values" in r ? { ...r, values: shuffle([...r.values], seed) } : r)),
          seed,
        );
        expect(formatSelector({ requirements: shuffled })).toBe(formatSelector(sel));
      }),
    );
  });

  it("(b) matchesSelector agrees with a reference implementation", () => {
    fc.assert(
      fc.property(selectorWithLabelSets, ([sel, labelSets]) => {
        for (const labels of labelSets) {
          expect(matchesSelector(sel, labels)).toBe(referenceMatches(sel, labels));
        }
      }),
      { numRuns: 500 },
    );
  });

  describe("(c) arbitrary input only ever throws SelectorSyntaxError, pointing inside the input", () => {
    const tokenSoup = fc
      .array(
        fc.constantFrom("a", "k", "in", "notin", "=", "==", "!=", "!", "(", ")", ",", " ", "\t", "-", "/", "x.y/", ">", "_", "é"),
        { maxLength: 14 },
      )
      .map((parts) => parts.join(""));

    function check(input: string): void {
      let selector: Selector;
      try {
        selector = parseSelector(input);
      } catch (err) {
        expect(err).toBeInstanceOf(SelectorSyntaxError);
        const e = err as SelectorSyntaxError;
        expect(e.input).toBe(input);
        expect(e.position).toBeGreaterThanOrEqual(0);
        expect(e.position).toBeLessThanOrEqual(input.length);
        // The reported token really is at the reported position.
        if (e.found === END_OF_INPUT) expect(e.position).toBe(input.length);
        else expect(input.startsWith(e.found, e.position)).toBe(true);
        expect(e.message.startsWith(`selector ${JSON.stringify(input)}: at position ${e.position}: expected `)).toBe(true);
        return;
      }
      // Whatever parses has a canonical form that parses again to the same canonical form.
      const canonical = formatSelector(selector);
      expect(formatSelector(parseSelector(canonical))).toBe(canonical);
    }

    it("ASCII strings", () => fc.assert(fc.property(fc.string({ maxLength: 40 }), check), { numRuns: 1000 }));
    it("full Unicode strings", () =>
      fc.assert(fc.property(fc.string({ unit: "binary", maxLength: 40 }), check), { numRuns: 1000 }));
    it("token soup", () => fc.assert(fc.property(tokenSoup, check), { numRuns: 2000 }));
  });

  it("(d) whitespace around tokens does not change the parse", () => {
    const spacedSelector = fc.record({
      requirements: fc.array(requirementArb(nonEmptyValueArb, valueArb), { minLength: 1, maxLength: 4 }),
    });
    fc.assert(
      fc.property(spacedSelector, fc.boolean(), fc.infiniteStream(fc.tuple(WS, WS1)), (sel, doubleEquals, gaps) => {
        const tokens = tokensOf(sel, doubleEquals);
        const plain = parseSelector(tokens.join(" "));
        const it = gaps[Symbol.iterator]();
        let spaced = "";
        tokens.forEach((token, i) => {
          const [ws, ws1] = it.next().value as [string, string];
          const prev = tokens[i - 1];
          // Two adjacent words would merge into one without whitespace between them.
          const gap = prev !== undefined && isWord(prev) && isWord(token) ? ws1 : ws;
          spaced += gap + token;
        });
        spaced += (it.next().value as [string, string])[0];
        expect(parseSelector(spaced)).toEqual(plain);
      }),
      { numRuns: 500 },
    );
  });
});

/** Deterministic Fisher–Yates driven by a seed (fast-check shrinks the seed, not the permutation). */
function shuffle<T>(items: T[], seed: number): T[] {
  let state = seed >>> 0 || 1;
  for (let i = items.length - 1; i > 0; i--) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    const j = state % (i + 1);
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}
