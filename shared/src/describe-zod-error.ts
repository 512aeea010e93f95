import type { z } from "zod";
import { ECHO_MAX_CHARS, clipForMessage } from "./clip.ts";

/** Issues named at most; a path segment (a record key is the caller's input) or a message is cut short. */
const MAX_ISSUES = 5;
const MAX_SEGMENT_CHARS = ECHO_MAX_CHARS;
const MAX_MESSAGE_CHARS = 1000;

/** Issues kept in an error answer's `issues`: enough for a form, never one per element of a huge input. */
export const MAX_REPORTED_ISSUES = 20;

function pathText(path: readonly PropertyKey[]): string {
  return path.length ? path.map((p) => clipForMessage(String(p), MAX_SEGMENT_CHARS)).join(".") : "(root)";
}

/**
 * One line naming each invalid field and what was expected: `hello.arch: expected string, received number`.
 * At most 5 issues (and how many more there were); record keys in paths and long messages are cut, so the
 * line stays short whatever the input.
 */
export function describeZodError(error: z.ZodError): string {
  const shown = error.issues.slice(0, MAX_ISSUES).map((i) => `${pathText(i.path)}: ${clipForMessage(i.message, MAX_MESSAGE_CHARS)}`);
  const more = error.issues.length - MAX_ISSUES;
  return shown.join("; ") + (more > 0 ? `; and ${more} more issue${more === 1 ? "" : "s"}` : "");
}

/**
 * zod's issues as an error answer carries them (machine-readable, for forms): the first
 * {@link MAX_REPORTED_ISSUES}, with long path segments and messages cut and nothing of
 * the input itself (zod omits it unless asked; `keys` of an unknown-keys issue are capped).
 */
export function boundedZodIssues(issues: readonly z.core.$ZodIssue[]): z.core.$ZodIssue[] {
  return issues.slice(0, MAX_REPORTED_ISSUES).map((issue) => {
    const bounded: Record<string, unknown> = { ...issue, path: issue.path.map((p) => (typeof p === "string" ? clipForMessage(p, MAX_SEGMENT_CHARS) : p)), message: clipForMessage(issue.message, MAX_MESSAGE_CHARS) };
    delete bounded.input;
    // Nested issues (a union's branches, a record key's own issues) are summarized by the message already.
    if ("errors" in bounded) delete bounded.errors;
    if ("issues" in bounded) delete bounded.issues;
    if (Array.isArray(bounded.keys)) bounded.keys = (bounded.keys as string[]).slice(0, MAX_REPORTED_ISSUES).map((k) => clipForMessage(k, MAX_SEGMENT_CHARS));
    return bounded as unknown as z.core.$ZodIssue;
  });
}
