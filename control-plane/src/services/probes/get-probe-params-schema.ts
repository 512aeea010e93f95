import { z } from "zod";
import { PROBE_KINDS, probeParamsSchema, type ProbeKind } from "@probepilot/shared";
import { ServiceError } from "../errors.ts";
import { closestName } from "./find-probe.ts";

/** One parameter in the JSON Schema of a kind: what a form needs to render and check it. */
export type ProbeParamJsonSchema = {
  type?: string;
  description?: string;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  [keyword: string]: unknown;
};

/** The JSON Schema (draft 2020-12) of a kind's parameters, as the caller writes them: defaulted ones are not required. */
export type ProbeParamsJsonSchema = {
  type: "object";
  properties: Record<string, ProbeParamJsonSchema>;
  required?: string[];
  additionalProperties: false;
  [keyword: string]: unknown;
};

/**
 * The parameter schema of a built-in kind as JSON Schema, with each parameter's
 * description, default and bounds (for the UI's spec form). NOT_FOUND for an
 * unknown kind, listing the kinds.
 */
export function getProbeParamsSchema(kind: string): ProbeParamsJsonSchema {
  if (!(PROBE_KINDS as readonly string[]).includes(kind)) {
    const guess = closestName(kind, [...PROBE_KINDS]);
    throw new ServiceError("NOT_FOUND", `unknown probe kind "${kind}"${guess ? ` (did you mean "${guess}"?)` : ""}; the built-in kinds are: ${PROBE_KINDS.join(", ")}`);
  }
  // "input": the shape an operator writes, where a parameter with a default may be left out.
  return z.toJSONSchema(probeParamsSchema(kind as ProbeKind), { io: "input" }) as ProbeParamsJsonSchema;
}
