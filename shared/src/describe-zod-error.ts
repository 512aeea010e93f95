import type { z } from "zod";

/** Issues named in one message. */
const MAX_DESCRIBED_ISSUES = 5;
/** A path segment (a record key the caller chose) is cut to this many characters. */
const MAX_PATH_SEGMENT = 64;
/** One issue's message is cut to this many characters (a custom message may quote input). */
const MAX_ISSUE_MESSAGE = 500;
/** Issues kept in an error answer's `issues`: enough for a form, never one per element of a huge input. */
export const MAX_REPORTED_ISSUES = 20;

function cut(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`;
}

function pathText(path: readonly PropertyKey[]): string {
  return path.length ? path.map((p) => cut(String(p), MAX_PATH_SEGMENT)).join(".") : "(root)";
}

/**
 * One line naming each invalid field and what was expected: `hello.arch: expected string, received number`.
 * At most 5 issues (and how many more there were); record keys in paths and long messages are cut, so the
 * line stays short whatever the input.
 */
export function describeZodError(error: z.ZodError): string {
  const shown = error.issues.slice(0, MAX_DESCRIBED_ISSUES).map((i) => `${pathText(i.path)}: ${cut(i.message, MAX_ISSUE_MESSAGE)}`);
  const more = error.issues.length - MAX_DESCRIBED_ISSUES;
  return shown.join("; ") + (more > 0 ? `; and ${more} more` : "");
}

/**
 * zod's issues as an error answer carries them (machine-readable, for forms): the first
 * {@link MAX_REPORTED_ISSUES}, with long path segments and messages cut and nothing of
 * the input itself (zod omits it unless asked; `keys` of an unknown-keys issue are capped).
 */
export function boundedZodIssues(issues: readonly z.core.$ZodIssue[]): z.core.$ZodIssue[] {
  return issues.slice(0, MAX_REPORTED_ISSUES).map((issue) => {
    const bounded: Record<string, unknown> = { ...issue, path: issue.path.map((p) => (typeof p === "string" ? cut(p, MAX_PATH_SEGMENT) : p)), message: cut(issue.message, MAX_ISSUE_MESSAGE) };
    delete bounded.input;
    // Nested issues (a union's branches, a record key's own issues) are summarized by the message already.
    if ("errors" in bounded) delete bounded.errors;
    if ("issues" in bounded) delete bounded.issues;
    if (Array.isArray(bounded.keys)) bounded.keys = (bounded.keys as string[]).slice(0, MAX_REPORTED_ISSUES).map((k) => cut(k, MAX_PATH_SEGMENT));
    return bounded as unknown as z.core.$ZodIssue;
  });
}
