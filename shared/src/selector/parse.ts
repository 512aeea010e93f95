/**
 * Label selector text ↔ {@link Selector}: a hand-written tokenizer and recursive-descent parser
 * for the Kubernetes label-selector syntax (k8s.io/apimachinery `pkg/labels/selector.go`), and the
 * canonical formatter.
 *
 *   selector    := "" | requirement ("," requirement)*
 *   requirement := "!" key
 *                | key
 *                | key ("=" | "==" | "!=") value
 *                | key ("in" | "notin") "(" element ("," element)* ")"
 *   element     := value | ""          -- an empty element is the empty value, as in Kubernetes
 *
 * Size limits (`../limits.ts`): at most SELECTOR_MAX_LENGTH characters, SELECTOR_MAX_REQUIREMENTS
 * requirements and SELECTOR_MAX_VALUES values per set; the text is refused before it is tokenized
 * when too long, and the counts are reported with the limit.
 *
 * Whitespace (space, tab, CR, LF) may surround any token. `in` and `notin` are keywords only in
 * operator position, so `in=x` and `k=in` are fine. Kubernetes' `>`/`<` operators are not supported.
 */
import { z } from "zod";
import { LabelError, labelKeyProblem, labelValueProblem, quoteLabelText } from "../labels.ts";
import { SELECTOR_MAX_LENGTH, SELECTOR_MAX_REQUIREMENTS, SELECTOR_MAX_VALUES, formatCount, tooMany } from "../limits.ts";
import { quoteForMessage } from "../clip.ts";
import type { Requirement, Selector } from "./ast.ts";

/** What {@link SelectorSyntaxError.found} holds when the input ended too early. */
export const END_OF_INPUT = "end of input";

/** The details of a selector syntax error, as plain data (for the UI and API error payloads). */
export type SelectorSyntaxErrorInfo = {
  /** The full message, e.g. `selector "env in staging": at position 7: expected "(" after "in", found "staging"`. */
  message: string;
  /** 0-based offset (UTF-16 code units) in the input of the offending token; the input length at end of input. */
  position: number;
  /** What would have been valid there, e.g. `"(" after "in"`. */
  expected: string;
  /** The offending token's text, or {@link END_OF_INPUT}. */
  found: string;
};

/** Thrown by {@link parseSelector} for text that is not a valid label selector. */
export class SelectorSyntaxError extends Error {
  override readonly name = "SelectorSyntaxError";
  /** The selector text that failed to parse. */
  readonly input: string;
  /** 0-based offset of the offending token; `input.length` when the input ended too early. */
  readonly position: number;
  /** What would have been valid at {@link position}. */
  readonly expected: string;
  /** The offending token's text, or {@link END_OF_INPUT}. */
  readonly found: string;

  /**
   * @param options.message replaces the standard `at position …: expected …, found …` message
   *   (the size limits word theirs differently).
   */
  constructor(input: string, position: number, expected: string, found: string, options?: ErrorOptions & { message?: string }) {
    const shown = found === END_OF_INPUT ? END_OF_INPUT : quoteExcerpt(found, MAX_QUOTED_TOKEN);
    super(options?.message ?? `${describeSelectorText(input)}: at position ${position}: expected ${expected}, found ${shown}`, options);
    this.input = input;
    this.position = position;
    this.expected = expected;
    this.found = found;
  }

  /** The error as plain data. */
  toInfo(): SelectorSyntaxErrorInfo {
    return { message: this.message, position: this.position, expected: this.expected, found: this.found };
  }
}

/** Selector text up to this length is quoted whole in error messages; longer text by its start and its length. */
const MAX_QUOTED_SELECTOR = 200;
/** A token quoted in an error message: longer than any valid key (253 + 1 + 63), shorter than the identifiers of an attack. */
const MAX_QUOTED_TOKEN = 320;

/** `text` as a JSON string, cut to `max` characters with `…` when longer. */
function quoteExcerpt(text: string, max: number): string {
  return text.length <= max ? JSON.stringify(text) : `${JSON.stringify(text.slice(0, max))}…`;
}

/**
 * `selector "env in staging"` for error messages; long text is shown by its start and
 * its length, so a message never carries a whole large input.
 */
export function describeSelectorText(input: string): string {
  if (input.length <= MAX_QUOTED_SELECTOR) return `selector ${JSON.stringify(input)}`;
  return `selector ${quoteExcerpt(input, MAX_QUOTED_SELECTOR / 2)} (${formatCount(input.length)} characters)`;
}

// ---------------------------------------------------------------------------------------------
// Tokenizer

type TokenKind = "ident" | "=" | "==" | "!=" | "!" | "(" | ")" | "," | "<" | ">" | "end";
type Token = { kind: TokenKind; text: string; pos: number };

// Kubernetes' whitespace set; any other character (even Unicode spaces) belongs to an identifier
// and is then rejected by key/value validation with a message naming it.
const WHITESPACE = new Set([" ", "\t", "\r", "\n"]);
// `<` and `>` are Kubernetes operators we do not support; tokenizing them still ends an identifier
// there, so `k>1` reports the operator instead of an invalid key "k>1".
const SPECIAL = new Set(["=", "!", "(", ")", ",", "<", ">"]);

function tokenize(input: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const ch = input[i] as string;
    if (WHITESPACE.has(ch)) {
      i++;
      continue;
    }
    if (SPECIAL.has(ch)) {
      // Longest match first: "==" and "!=" are single tokens, so "k!=v" is not "!" then "=".
      const two = input.slice(i, i + 2);
      if (two === "==" || two === "!=") {
        tokens.push({ kind: two, text: two, pos: i });
        i += 2;
      } else {
        tokens.push({ kind: ch as TokenKind, text: ch, pos: i });
        i++;
      }
      continue;
    }
    const start = i;
    while (i < input.length && !WHITESPACE.has(input[i] as string) && !SPECIAL.has(input[i] as string)) i++;
    tokens.push({ kind: "ident", text: input.slice(start, i), pos: start });
  }
  tokens.push({ kind: "end", text: END_OF_INPUT, pos: input.length });
  return tokens;
}

// ---------------------------------------------------------------------------------------------
// Parser

const OPERATORS_HINT = `an operator ("=", "==", "!=", "in" or "notin"), "," or end of input`;

class Parser {
  private readonly tokens: Token[];
  private index = 0;

  constructor(private readonly input: string) {
    this.tokens = tokenize(input);
  }

  parse(): Selector {
    const requirements: Requirement[] = [];
    if (this.peek().kind === "end") return { requirements }; // empty or blank text: match all
    // Where the first requirement over the limit starts (the text is parsed to its end, so the message can give the count).
    let overLimitAt = -1;
    for (;;) {
      const start = this.peek().pos;
      if (requirements.length === SELECTOR_MAX_REQUIREMENTS) overLimitAt = start;
      requirements.push(this.parseRequirement(requirements.length === 0));
      const source = this.input.slice(start, this.previousEnd());
      const sep = this.next();
      if (sep.kind === "end") {
        if (overLimitAt >= 0) {
          const expected = `at most ${formatCount(SELECTOR_MAX_REQUIREMENTS)} requirements`;
          throw new SelectorSyntaxError(this.input, overLimitAt, expected, `${formatCount(requirements.length)} requirements`, {
            message: `${describeSelectorText(this.input)}: ${tooMany(`${formatCount(SELECTOR_MAX_REQUIREMENTS)} requirements`, requirements.length)}; one "key in (a,b)" takes several values of a key`,
          });
        }
        return { requirements };
      }
      // Naming the requirement just parsed helps with "!k=v" and a missing comma ("a=b c=d").
      if (sep.kind !== ",") this.fail(sep, `"," or end of input after ${quoteExcerpt(source, MAX_QUOTED_SELECTOR)}`);
    }
  }

  private parseRequirement(first: boolean): Requirement {
    const head = this.next();
    if (head.kind === "!") {
      const key = this.expectKey(this.next(), `a label key after "!"`);
      // "!k" takes no operator; anything after it is reported by the caller as a missing ",".
      return { op: "notexists", key };
    }
    const key = this.expectKey(head, first ? `a label key or "!"` : `a label key or "!" after ","`);

    const op = this.peek();
    if (op.kind === "end" || op.kind === ",") return { op: "exists", key };
    this.next();
    switch (op.kind) {
      case "=":
      case "==":
      case "!=": {
        const value = this.expectValue(this.next(), `a value after ${quoteForMessage(op.text)}`);
        return op.kind === "!=" ? { op: "neq", key, value } : { op: "eq", key, value };
      }
      case "ident":
        if (op.text === "in" || op.text === "notin") {
          return { op: op.text, key, values: this.parseSet(op) };
        }
        break;
    }
    return this.fail(op, `${OPERATORS_HINT} after ${quoteForMessage(key)}`);
  }

  /** `"(" element ("," element)* ")"`; returns the values de-duplicated, in first-seen order. */
  private parseSet(op: Token): string[] {
    const open = this.next();
    if (open.kind !== "(") this.fail(open, `"(" after ${quoteForMessage(op.text)}`);
    const unclosed = `to close the "(" at position ${open.pos}`;
    // Kubernetes reads "()" as the set {""}; an empty list is far more likely a mistake, so we reject it.
    // (An empty value can still be written as an empty element: "k in (,)", "k in (a,)".)
    if (this.peek().kind === ")") this.fail(this.peek(), `a value after "(" (a set needs at least one value)`);

    const values = new Set<string>();
    let written = 0;
    let overLimitAt = -1;
    for (;;) {
      const element = this.peek();
      if (written++ === SELECTOR_MAX_VALUES) overLimitAt = element.pos;
      if (element.kind === "ident") {
        values.add(this.expectValue(this.next(), `a valid label value`));
      } else if (element.kind === "," || element.kind === ")") {
        values.add(""); // empty element, as Kubernetes allows: "(a,)" is {a, ""}
      } else if (element.kind === "end") {
        this.fail(element, `a value or ")" ${unclosed}`);
      } else {
        this.fail(element, `a value, "," or ")"`);
      }
      const sep = this.next();
      if (sep.kind === ")") {
        if (overLimitAt >= 0) this.failSetSize(op, overLimitAt, written);
        return [...values];
      }
      if (sep.kind === ",") continue;
      this.fail(sep, sep.kind === "end" ? `"," or ")" ${unclosed}` : `"," or ")"`);
    }
  }

  private failSetSize(op: Token, position: number, written: number): never {
    const limit = `${formatCount(SELECTOR_MAX_VALUES)} values in one "${op.text}" set`;
    throw new SelectorSyntaxError(this.input, position, `at most ${limit}`, `${formatCount(written)} values`, {
      message: `${describeSelectorText(this.input)}: at position ${op.pos}: ${tooMany(limit, written)}`,
    });
  }

  private expectKey(token: Token, expected: string): string {
    if (token.kind !== "ident") this.fail(token, expected);
    const problem = labelKeyProblem(token.text);
    if (problem !== null) this.fail(token, `a valid label key (${problem})`);
    return token.text;
  }

  private expectValue(token: Token, expected: string): string {
    if (token.kind !== "ident") this.fail(token, expected);
    const problem = labelValueProblem(token.text);
    if (problem !== null) this.fail(token, `a valid label value (${problem})`);
    return token.text;
  }

  private peek(): Token {
    // The token list always ends with "end" and the parser never consumes past it.
    return this.tokens[this.index] as Token;
  }

  private next(): Token {
    const token = this.peek();
    if (token.kind !== "end") this.index++;
    return token;
  }

  /** End offset of the last consumed token. */
  private previousEnd(): number {
    const prev = this.tokens[this.index - 1];
    return prev === undefined ? 0 : prev.pos + prev.text.length;
  }

  private fail(token: Token, expected: string): never {
    throw new SelectorSyntaxError(this.input, token.pos, expected, token.kind === "end" ? END_OF_INPUT : token.text);
  }
}

/**
 * Parses Kubernetes label-selector text, e.g. `env=staging,region in (eu,us),!canary`.
 * Empty or blank text is the match-all selector. Keys and values must satisfy the label rules.
 * `in`/`notin` values are de-duplicated, in first-seen order; requirements keep their order.
 * @throws {SelectorSyntaxError} with the offending position, what was expected and what was found.
 */
export function parseSelector(input: string): Selector {
  if (input.length > SELECTOR_MAX_LENGTH) {
    const limit = `${formatCount(SELECTOR_MAX_LENGTH)} characters`;
    throw new SelectorSyntaxError(input, SELECTOR_MAX_LENGTH, `at most ${limit}`, `${formatCount(input.length)} characters`, {
      message: `${describeSelectorText(input)}: too long: ${tooMany(limit, input.length)}`,
    });
  }
  return new Parser(input).parse();
}

/** The result of {@link tryParseSelector}. */
export type TryParseSelectorResult =
  | { ok: true; selector: Selector }
  | { ok: false; error: SelectorSyntaxErrorInfo };

/** Like {@link parseSelector} but returns the error as data instead of throwing (for live validation). */
export function tryParseSelector(input: string): TryParseSelectorResult {
  try {
    return { ok: true, selector: parseSelector(input) };
  } catch (err) {
    if (err instanceof SelectorSyntaxError) return { ok: false, error: err.toInfo() };
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Formatter

function checkKey(key: string): void {
  const problem = labelKeyProblem(key);
  if (problem !== null) throw new LabelError(`selector requirement on label key ${quoteLabelText(key)}: ${problem}`);
}

function checkValue(key: string, value: string): void {
  const problem = labelValueProblem(value);
  if (problem !== null) {
    throw new LabelError(`selector requirement on label key ${quoteLabelText(key)}: label value ${quoteLabelText(value)}: ${problem}`);
  }
}

function formatSet(key: string, op: "in" | "notin", values: readonly string[]): string {
  if (values.length === 0) {
    throw new LabelError(`selector requirement on label key ${quoteForMessage(key)}: "${op}" needs at least one value`);
  }
  for (const v of values) checkValue(key, v);
  const sorted = [...new Set(values)].sort();
  // The empty value sorts first and is written as an empty element; alone it needs a lone ","
  // because "()" is rejected by the parser.
  const list = sorted.length === 1 && sorted[0] === "" ? "," : sorted.join(",");
  return `${key} ${op} (${list})`;
}

/** Canonical text of one requirement. */
export function formatRequirement(req: Requirement): string {
  checkKey(req.key);
  switch (req.op) {
    case "eq":
    case "neq":
      // "k=" would mean k="" in Kubernetes but our parser rejects a missing value,
      // so the empty value goes through the set form, which means the same.
      if (req.value === "") return formatSet(req.key, req.op === "eq" ? "in" : "notin", [""]);
      checkValue(req.key, req.value);
      return `${req.key}${req.op === "eq" ? "=" : "!="}${req.value}`;
    case "in":
    case "notin":
      return formatSet(req.key, req.op, req.values);
    case "exists":
      return req.key;
    case "notexists":
      return `!${req.key}`;
  }
}

/**
 * Canonical selector text: requirements as `k=v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`
 * (set values sorted and de-duplicated), sorted by key then text, exact duplicates removed, joined by `,`.
 * The match-all selector formats as "". `parseSelector(formatSelector(s))` matches exactly what `s` matches.
 * @throws {LabelError} for a hand-built selector that has no text form (invalid key or value, empty set).
 */
export function formatSelector(selector: Selector): string {
  const parts = selector.requirements.map((req) => ({ key: req.key, text: formatRequirement(req) }));
  parts.sort((a, b) => compare(a.key, b.key) || compare(a.text, b.text));
  return [...new Set(parts.map((p) => p.text))].join(",");
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The canonical form of selector text: `formatSelector(parseSelector(input))`.
 * Two selectors with the same canonical form match the same label sets.
 * @throws {SelectorSyntaxError} when the input does not parse.
 */
export function normalizeSelector(input: string): string {
  return formatSelector(parseSelector(input));
}

/**
 * Selector text for API inputs: a string that {@link parseSelector} accepts; the issue message is the
 * {@link SelectorSyntaxError} message. The output is the text as given (not normalized).
 */
export const SelectorStringSchema = z.string().superRefine((input, ctx) => {
  const result = tryParseSelector(input);
  if (!result.ok) ctx.addIssue({ code: "custom", message: result.error.message });
});
