/**
 * Size limits of everything a caller can send: selectors, label sets and every list
 * input of the API. They are defined here once, checked by the schemas and the parser
 * before anything is parsed element by element or written, and documented in
 * docs/limits.md (keep the two in step).
 *
 * Why bounds at all: a 70,000-label set used to be committed to Postgres and then not
 * fit in the agent's NATS config message (1 MiB max payload); a 70,000-value `in`
 * overflowed the query builder's stack; a 20,000-requirement selector was accepted and
 * then failed every rollout-engine pass with a 40,000-parameter query in the log.
 */
import { z } from "zod";

// ---------------------------------------------------------------------------------------------
// Selectors

/** Longest selector text, in characters. */
export const SELECTOR_MAX_LENGTH = 8192;
/** Most requirements (comma-separated terms) in one selector. */
export const SELECTOR_MAX_REQUIREMENTS = 64;
/** Most values in one `in (…)` / `notin (…)` set, as written (duplicates count). */
export const SELECTOR_MAX_VALUES = 256;

// ---------------------------------------------------------------------------------------------
// Labels (key and value lengths are Kubernetes', in ./labels.ts)

/** Most labels in one label set (an agent's host, user or central labels; a change set). */
export const LABELS_MAX_COUNT = 128;
/** Most bytes (UTF-8) of keys plus values in one label set. */
export const LABELS_MAX_BYTES = 16 * 1024;
/**
 * An agent's effective labels merge three sets (host, user, central), so they may
 * hold up to three sets' worth.
 */
export const EFFECTIVE_LABELS_MAX_COUNT = 3 * LABELS_MAX_COUNT;
export const EFFECTIVE_LABELS_MAX_BYTES = 3 * LABELS_MAX_BYTES;

/** NATS's default max payload (nats-server `max_payload`): what one config or status message must fit in. */
export const NATS_DEFAULT_MAX_PAYLOAD = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Other list inputs

/** Most parameters in a probe spec (the largest kind takes 8). */
export const PROBE_PARAMS_MAX_COUNT = 32;
/** Longest parameter name. */
export const PROBE_PARAM_NAME_MAX_LENGTH = 64;
/** Longest path parameter (`cgroup`): the kernel's PATH_MAX. */
export const PROBE_PATH_MAX_BYTES = 4096;
/** Most waves in a rollout. */
export const MAX_WAVES = 20;
/** Largest wave given as a number of agents. */
export const MAX_WAVE_AGENTS = 1_000_000;
/** Largest probe version number (a Postgres `integer`). */
export const MAX_PROBE_VERSION = 2 ** 31 - 1;
/**
 * Latest Unix millisecond any time input may name: 9999-12-31T23:59:59.999Z. Far
 * inside what a JavaScript Date (±8.64e15 ms) and a Postgres timestamp can hold.
 */
export const MAX_UNIX_MS = 253_402_300_799_999;
/** Longest metric, event or probe name a query may name. */
export const WIRE_NAME_MAX_LENGTH = 200;
/** Longest string value an event attribute filter may compare with. */
export const ATTR_VALUE_MAX_LENGTH = 4096;

// ---------------------------------------------------------------------------------------------
// Helpers for schemas

/** `70000` → `70,000`: counts in messages read better with separators. */
export function formatCount(n: number): string {
  return n.toLocaleString("en-US");
}

/** UTF-8 length of `text` without allocating (lone surrogates count 3, as TextEncoder writes U+FFFD). */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * `schema` behind a size check that runs first: a list or record that is too big is
 * refused with one issue saying what was sent and what the limit is, before any of its
 * elements is parsed (zod's own `.max()` runs after every element, and reports every
 * bad element: 70,000 issues for 70,000 bad keys). The input type stays `schema`'s, so
 * typed clients see no difference.
 *
 * @param tooBig returns the message when `value` is over the limit, else null; `value`
 *   is the raw input, of any type (a wrong type is left to `schema` to report).
 */
export function sizeChecked<S extends z.ZodType>(schema: S, tooBig: (value: unknown) => string | null) {
  // A transform that returns its input, not a refinement: JSON Schema (the web's forms) then
  // describes the piped schema instead of refusing the pipe as unrepresentable.
  const check = z.transform((value: unknown, ctx) => {
    const message = tooBig(value);
    if (message !== null) ctx.issues.push({ code: "custom", message, input: value });
    return value;
  }) as unknown as z.ZodType<z.input<S>, z.input<S>>;
  // Any issue stops a pipe: the elements are never parsed.
  return check.pipe(schema as unknown as z.ZodType<z.output<S>, z.input<S>>);
}

/** `at most 20 waves in a rollout (70,000 given)`: how every size limit is worded, with the limit and what was sent. */
export function tooMany(limit: string, given: number): string {
  return `at most ${limit} (${formatCount(given)} given)`;
}

/**
 * An array of at most `max` items, checked before the items.
 * @param message the whole message for `count` items, e.g.
 *   `(n) => tooMany("20 waves in a rollout", n)`; tRPC prefixes the field's path.
 */
export function boundedArray<S extends z.ZodType>(schema: S, max: number, message: (count: number) => string) {
  return sizeChecked(schema, (value) => (Array.isArray(value) && value.length > max ? message(value.length) : null));
}

/** A plain object of at most `max` keys, checked before the entries (see {@link boundedArray}). */
export function boundedRecord<S extends z.ZodType>(schema: S, max: number, message: (count: number) => string) {
  return sizeChecked(schema, (value) => {
    if (!isPlainObject(value)) return null;
    const count = Object.keys(value).length;
    return count > max ? message(count) : null;
  });
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
