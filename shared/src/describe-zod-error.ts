import type { z } from "zod";
import { ECHO_MAX_CHARS, clipForMessage } from "./clip.ts";

/** Issues named at most; a path segment (a record key is the caller's input) or a message is cut short. */
const MAX_ISSUES = 5;
const MAX_SEGMENT_CHARS = ECHO_MAX_CHARS;
const MAX_MESSAGE_CHARS = 1000;

/** One line naming each invalid field and what was expected: `hello.arch: expected string, received number`. */
export function describeZodError(error: z.ZodError): string {
  const shown = error.issues.slice(0, MAX_ISSUES).map((i) => `${i.path.length ? i.path.map((p) => clipForMessage(String(p), MAX_SEGMENT_CHARS)).join(".") : "(root)"}: ${clipForMessage(i.message, MAX_MESSAGE_CHARS)}`);
  const more = error.issues.length - MAX_ISSUES;
  return shown.join("; ") + (more > 0 ? `; and ${more} more issue${more === 1 ? "" : "s"}` : "");
}
