/**
 * Labels: the key/value pairs that agents carry (host facts plus operator-set labels)
 * and that rollouts target through label selectors (see `./selector/`).
 *
 * The rules are Kubernetes' (k8s.io/apimachinery `IsQualifiedName` for keys,
 * `IsValidLabelValue` for values) so that labels copied from a cluster are valid here.
 */
import { z } from "zod";
import { quoteForMessage } from "./clip.ts";

/** Longest allowed label name (the part after the optional `prefix/`) and label value. */
export const LABEL_NAME_MAX_LENGTH = 63;
/** Longest allowed label key prefix (a DNS subdomain). */
export const LABEL_PREFIX_MAX_LENGTH = 253;

// Name and value share one pattern: alphanumerics at both ends, `-_.` allowed inside.
const NAME_PATTERN = /^[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
// RFC 1123 subdomain: dot-separated lower-case labels, each starting and ending alphanumeric.
const DNS_SUBDOMAIN_PATTERN = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/;

const NAME_RULE = `name must be ${LABEL_NAME_MAX_LENGTH} characters or less, alphanumeric, '-', '_' or '.', starting and ending alphanumeric`;
const PREFIX_RULE = `prefix must be a DNS subdomain of ${LABEL_PREFIX_MAX_LENGTH} characters or less: lower-case alphanumeric, '-' or '.', each dot-separated part starting and ending alphanumeric`;
const VALUE_RULE = `value must be empty or ${LABEL_NAME_MAX_LENGTH} characters or less, alphanumeric, '-', '_' or '.', starting and ending alphanumeric`;

/** Thrown for a malformed label or label assignment (`key=value`). */
export class LabelError extends Error {
  override readonly name = "LabelError";

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/**
 * Describes what is wrong with a label key, without naming the key
 * (e.g. `name must be 63 characters or less, …`), or returns null when the key is valid.
 * Used where the caller already shows the key, like selector syntax errors;
 * most callers want {@link validateLabelKey}.
 */
export function labelKeyProblem(key: string): string | null {
  if (key === "") return "must not be empty; expected [prefix/]name, e.g. app or example.com/app";
  const parts = key.split("/");
  if (parts.length > 2) return `must contain at most one '/', separating an optional prefix from the name (e.g. example.com/app)`;
  const [prefix, name] = parts.length === 2 ? [parts[0] ?? "", parts[1] ?? ""] : [undefined, parts[0] ?? ""];
  if (prefix !== undefined) {
    if (prefix === "") return `prefix before '/' must not be empty; ${PREFIX_RULE}`;
    if (prefix.length > LABEL_PREFIX_MAX_LENGTH || !DNS_SUBDOMAIN_PATTERN.test(prefix)) return PREFIX_RULE;
  }
  if (name === "") return `name after '/' must not be empty; ${NAME_RULE}`;
  if (name.length > LABEL_NAME_MAX_LENGTH) return `${NAME_RULE} (it has ${name.length})`;
  if (!NAME_PATTERN.test(name)) return NAME_RULE;
  return null;
}

/**
 * Describes what is wrong with a label value, without naming the value, or returns null when it is valid.
 * See {@link validateLabelValue} for the full message.
 */
export function labelValueProblem(value: string): string | null {
  if (value === "") return null;
  if (value.length > LABEL_NAME_MAX_LENGTH) return `${VALUE_RULE} (it has ${value.length})`;
  if (!NAME_PATTERN.test(value)) return VALUE_RULE;
  return null;
}

/**
 * Checks a label key: an optional DNS-subdomain prefix and `/`, then a name.
 * @returns null when valid, else a message such as
 *   `label key "Foo Bar": name must be 63 characters or less, alphanumeric, '-', '_' or '.', starting and ending alphanumeric`
 */
export function validateLabelKey(key: string): string | null {
  const problem = labelKeyProblem(key);
  return problem === null ? null : `label key ${quoteForMessage(key)}: ${problem}`;
}

/**
 * Checks a label value: empty, or a name-like string of at most 63 characters.
 * @returns null when valid, else a message such as `label value "a b": value must be empty or 63 characters or less, …`
 */
export function validateLabelValue(value: string): string | null {
  const problem = labelValueProblem(value);
  return problem === null ? null : `label value ${quoteForMessage(value)}: ${problem}`;
}

/** A label key such as `env` or `probepilot.io/zone`. */
export const LabelKeySchema = z.string().superRefine((key, ctx) => {
  const message = validateLabelKey(key);
  if (message !== null) ctx.addIssue({ code: "custom", message });
});

/** A label value such as `prod`, or the empty string. */
export const LabelValueSchema = z.string().superRefine((value, ctx) => {
  const message = validateLabelValue(value);
  if (message !== null) ctx.addIssue({ code: "custom", message });
});

/**
 * zod reports a bad record key as a bare "Invalid key in record" and hides the key
 * schema's own message in `issues`; surface that message, it names the key and the rule.
 */
const labelKeyError = (issue: { code?: string; issues?: { message?: string }[] }) => {
  if (issue.code !== "invalid_key") return undefined;
  const inner = (issue.issues ?? []).map((i) => i.message).filter((m) => m !== undefined && m !== "");
  return inner.length > 0 ? inner.join("; ") : undefined;
};

/** A label set: key → value. */
export const LabelsSchema = z.record(LabelKeySchema, LabelValueSchema, { error: labelKeyError });

/** Changes to a label set: a value sets or overrides a label, `null` removes it. At least one change. */
export const LabelChangesSchema = z
  .record(LabelKeySchema, LabelValueSchema.nullable(), { error: labelKeyError })
  .refine((changes) => Object.keys(changes).length > 0, "give at least one label to set or remove");
export type LabelChanges = z.infer<typeof LabelChangesSchema>;

/** A label set: key → value. */
export type Labels = z.infer<typeof LabelsSchema>;

/**
 * Parses one `key=value` assignment, as given to the CLI (`--label env=prod`, `agents label ID env=prod`).
 * The value may be empty (`key=`), as in `kubectl label`. Splits at the first `=`; nothing is trimmed.
 * @throws {LabelError} when there is no `=` or the key or value is invalid.
 */
export function parseLabelAssignment(input: string): { key: string; value: string } {
  const eq = input.indexOf("=");
  if (eq === -1) {
    throw new LabelError(`label assignment ${quoteForMessage(input)}: expected key=value, e.g. env=prod`);
  }
  const key = input.slice(0, eq);
  const value = input.slice(eq + 1);
  const problem = validateLabelKey(key) ?? validateLabelValue(value);
  if (problem !== null) throw new LabelError(`label assignment ${quoteForMessage(input)}: ${problem}`);
  return { key, value };
}

/**
 * Merges label layers into a new object; a key in a later layer overrides the same key in earlier ones
 * (e.g. `mergeLabels(hostFacts, configLabels, operatorLabels)`). Inputs are not modified.
 */
export function mergeLabels(...layers: Labels[]): Labels {
  // fromEntries defines own properties, so even a "__proto__" key from untrusted JSON stays plain data.
  return Object.fromEntries(layers.flatMap((layer) => Object.entries(layer)));
}
