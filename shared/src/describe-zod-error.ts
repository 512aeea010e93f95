import type { z } from "zod";
import { clipForMessage } from "./clip.ts";

/** Issues named at most; a path segment or message is cut to a few dozen characters (record keys and unknown keys are the caller's input). */
const MAX_ISSUES = 5;
const MAX_SEGMENT_CHARS = 64;
const MAX_MESSAGE_CHARS = 300;

/** One line naming each invalid field and what was expected: `hello.arch: expected string, received number`. */
export function describeZodError(error: z.ZodError): string {
  const shown = error.issues.slice(0, MAX_ISSUES).map((i) => `${i.path.length ? i.path.map((p) => clipForMessage(String(p), MAX_SEGMENT_CHARS)).join(".") : "(root)"}: ${clipForMessage(i.message, MAX_MESSAGE_CHARS)}`);
  const more = error.issues.length - MAX_ISSUES;
  return shown.join("; ") + (more > 0 ? `; and ${more} more issue${more === 1 ? "" : "s"}` : "");
}
