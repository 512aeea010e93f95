import { z } from "zod";
import { MAX_UNIX_MS } from "@probepilot/shared";
import { pgTextProblem } from "../db/pg-text.ts";

// C0 and C1 controls and DEL (NUL breaks Postgres text; the others garble tables and logs).
const CONTROL_CHARACTER = /\p{Cc}/u;

/** `U+0007 at position 3` for the first control character in `text`, or null. */
function firstControlCharacter(text: string): string | null {
  const match = CONTROL_CHARACTER.exec(text);
  if (!match) return null;
  const code = match[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0");
  return `U+${code} at position ${match.index}`;
}

/**
 * A free-text field shown on one line (token names, descriptions): trimmed, then
 * `min` to `max` characters, no control characters (with a message naming the first one
 * found) and nothing Postgres cannot store (unpaired surrogates).
 */
export function singleLineText({ min = 0, max }: { min?: number; max: number }) {
  return z
    .string()
    .trim()
    .min(min, min === 1 ? "must not be empty" : `must be at least ${min} characters`)
    .max(max, `must be at most ${max} characters`)
    .superRefine((text, ctx) => {
      const found = firstControlCharacter(text);
      if (found) ctx.addIssue({ code: "custom", message: `must not contain control characters (found ${found}); use printable text on one line` });
      else {
        const problem = pgTextProblem(text);
        if (problem) ctx.addIssue({ code: "custom", message: problem });
      }
    });
}

/** Longest lifetime an expiring credential may be given: 10 years, far inside what a Date can hold. */
export const MAX_EXPIRES_IN_SEC = 10 * 365 * 86_400;

/** Seconds from now until a credential expires: a positive integer of at most 10 years. */
export const ExpiresInSecSchema = z
  .number()
  .positive("must be a positive number of seconds")
  .max(MAX_EXPIRES_IN_SEC, `must be at most ${MAX_EXPIRES_IN_SEC} seconds (10 years)`)
  // Not `.int()`: it would also call 1e20 "not a whole number"; the max is the problem there.
  .refine(Number.isInteger, "must be a whole number of seconds");

/**
 * Unix milliseconds up to the end of year 9999; the CLI and UI turn relative times ("5m ago")
 * into these. The bound keeps every accepted time a valid Date (a safe integer past 8.64e15 is not).
 */
export const UnixMs = (what: string) =>
  z
    .number({ error: `${what} must be a number of Unix milliseconds` })
    .nonnegative(`${what} must be Unix milliseconds (≥ 0)`)
    .max(MAX_UNIX_MS, `${what} must be at most ${MAX_UNIX_MS} (9999-12-31T23:59:59.999Z)`)
    .refine(Number.isSafeInteger, `${what} must be a whole number of Unix milliseconds`);

/**
 * Text compared with what Postgres stores (metric and event names, filters): 1 to `max`
 * characters (0 with `min: 0`), without U+0000 (Postgres text and jsonb cannot hold it:
 * the query would fail instead of matching nothing) and without unpaired UTF-16
 * surrogates (jsonb refuses them; they cannot come from real UTF-8 text).
 */
export function queryText(what: string, { min = 1, max }: { min?: number; max: number }) {
  return z
    .string({ error: `${what} must be a string` })
    .min(min, `${what} must not be empty`)
    .max(max, `${what} must be at most ${max} characters`)
    .superRefine((text, ctx) => {
      const problem = pgTextProblem(text);
      if (problem) ctx.addIssue({ code: "custom", message: `${what} ${problem}` });
    });
}
