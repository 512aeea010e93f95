import type { z } from "zod";
import { clipForMessage, probeParamsSchema, quoteForMessage, type ProbeKind } from "@probepilot/shared";
import { ServiceError } from "../errors.ts";
import { pgTextProblem } from "../../db/pg-text.ts";

/** Issues named in one message; the rest are counted. */
const MAX_ISSUES = 5;

/**
 * Parameters checked against the kind's schema, defaults filled in: what a version
 * stores and hashes. Throws INVALID naming each wrong field and what it takes:
 * `parameters for tcp_flows: comm: comm is at most 15 bytes …`,
 * `parameters for tcp_flows: unknown parameter "pidd"; tcp_flows takes pid, comm, …`.
 */
export function parseProbeParams(kind: ProbeKind, params: Record<string, unknown>): Record<string, unknown> {
  const schema = probeParamsSchema(kind);
  const parsed = schema.safeParse(params);
  if (!parsed.success) throw new ServiceError("INVALID", `parameters for ${kind}: ${describeIssues(kind, parsed.error.issues)}`, { cause: parsed.error });
  const data = parsed.data as Record<string, unknown>;
  // Postgres jsonb cannot store U+0000 (and the kernel would cut the string there anyway) or unpaired surrogates.
  for (const [key, value] of Object.entries(data)) {
    const problem = typeof value === "string" ? pgTextProblem(value) : null;
    if (problem !== null) throw new ServiceError("INVALID", `parameters for ${kind}: ${key}: ${problem}`);
  }
  return data;
}

function describeIssues(kind: ProbeKind, issues: z.core.$ZodIssue[]): string {
  const takes = Object.keys(probeParamsSchema(kind).shape).join(", ");
  const lines: string[] = [];
  for (const issue of issues) {
    const line =
      issue.code === "unrecognized_keys"
        ? `unknown parameter${issue.keys.length > 1 ? "s" : ""} ${issue.keys.slice(0, MAX_ISSUES).map((k) => quoteForMessage(k)).join(", ")}${issue.keys.length > MAX_ISSUES ? ` and ${issue.keys.length - MAX_ISSUES} more` : ""}; ${kind} takes ${takes}`
        : `${issue.path.length > 0 ? issue.path.map((p) => clipForMessage(String(p))).join(".") : "(params)"}: ${issue.message}`;
    // A field can fail two checks with the same words (comm's character and byte limits).
    if (!lines.includes(line)) lines.push(line);
  }
  const more = lines.length > MAX_ISSUES ? `; and ${lines.length - MAX_ISSUES} more` : "";
  return lines.slice(0, MAX_ISSUES).join("; ") + more;
}
