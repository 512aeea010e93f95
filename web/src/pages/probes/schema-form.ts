/**
 * Forms generated from JSON Schema: the part that is pure data (no DOM), so that
 * it is unit-tested on its own and shared by the probe "Create version" form
 * (`probes.paramsSchema`) and the rollout wizard's strategy fields
 * (`RolloutStrategySchema.toJSONSchema()`).
 *
 * A schema becomes a list of {@link FormField}s; the form keeps one text (or a
 * boolean) per field in {@link FormValues}; {@link readForm} turns those back into
 * the parameters object, checking what the schema says (type, bounds, length,
 * pattern, enum, required) with messages that say what is wrong and what would
 * be right; {@link serverFieldErrors} puts the server's 400 message next to the
 * fields it names.
 */

/** The part of JSON Schema (draft 2020-12) the generated forms read: what zod emits for probe parameters and rollout strategies, and a little more. */
export type JsonSchema = {
  type?: string | readonly string[];
  title?: string;
  description?: string;
  default?: unknown;
  enum?: readonly unknown[];
  const?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  properties?: Record<string, JsonSchema>;
  required?: readonly string[];
  anyOf?: readonly JsonSchema[];
  oneOf?: readonly JsonSchema[];
  [keyword: string]: unknown;
};

/**
 * How a field is edited: numbers and strings in a text box, booleans as a
 * checkbox, enums as a select, arrays of strings or numbers as comma-separated
 * text, an object (one level deep) as a group of its own fields, and anything
 * else as JSON in a text area.
 */
export type FieldKind = "integer" | "number" | "boolean" | "enum" | "string" | "list" | "group" | "json";

/** The schema keywords a field keeps, to check what is typed as the server will: bounds, lengths, pattern, list sizes. */
type FieldConstraints = Pick<JsonSchema, "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" | "minLength" | "maxLength" | "pattern" | "minItems" | "maxItems">;

/** One field of a generated form. */
export type FormField = FieldConstraints & {
  /** Path in the parameters object, dotted for fields of a group: `gate.timeoutSeconds`. */
  key: string;
  /** The property name (last segment of the key). */
  name: string;
  kind: FieldKind;
  description?: string;
  required: boolean;
  /** The schema's default (what the server fills in when the field is left out). */
  default?: unknown;
  /** Enum choices (their text is the select's value). */
  options?: readonly unknown[];
  /** Lists: what each item is. */
  item?: "string" | "number" | "integer";
  /** Groups: their fields. */
  fields?: FormField[];
};

/** What the form holds: the text typed (or the checkbox state) per field key. */
export type FormValues = Record<string, string | boolean>;

/** Field key → what is wrong with it. */
export type FormErrors = Record<string, string>;

/** `T | null` (zod writes optional-nullable as anyOf with a null branch) → `T`. */
function unwrapNullable(schema: JsonSchema): JsonSchema {
  const branches = schema.anyOf ?? schema.oneOf;
  if (!branches) return schema;
  const nonNull = branches.filter((b) => b.type !== "null");
  if (nonNull.length !== 1) return schema;
  // Keep the outer description/default: zod puts them on the wrapper.
  const { anyOf: _a, oneOf: _o, ...outer } = schema;
  return { ...nonNull[0], ...outer };
}

function typeOf(schema: JsonSchema): string | undefined {
  return Array.isArray(schema.type) ? schema.type.find((t) => t !== "null") : (schema.type as string | undefined);
}

/**
 * The fields of an object schema, in the order its properties are declared.
 * Objects nested one level deep become a group of fields; anything deeper (or an
 * array of objects) is edited as JSON.
 */
export function fieldsFromSchema(schema: JsonSchema, prefix = ""): FormField[] {
  const required = new Set(schema.required ?? []);
  return Object.entries(schema.properties ?? {}).map(([name, raw]) => {
    const s = unwrapNullable(raw);
    const key = prefix ? `${prefix}.${name}` : name;
    const base: FormField = { key, name, kind: "json", required: required.has(name) };
    if (s.description !== undefined) base.description = s.description;
    if (s.default !== undefined) base.default = s.default;
    const type = typeOf(s);
    if (s.enum) return { ...base, kind: "enum", options: s.enum };
    if (type === "boolean") return { ...base, kind: "boolean" };
    if (type === "integer" || type === "number") return withBounds({ ...base, kind: type }, s);
    if (type === "string") return withLengths({ ...base, kind: "string" }, s);
    if (type === "array" && s.items) {
      const items = unwrapNullable(s.items);
      const itemType = typeOf(items);
      if (itemType === "string" || itemType === "number" || itemType === "integer") {
        const list: FormField = withLengths(withBounds({ ...base, kind: "list", item: itemType }, items), items);
        if (s.minItems !== undefined) list.minItems = s.minItems;
        if (s.maxItems !== undefined) list.maxItems = s.maxItems;
        return list;
      }
    }
    if (type === "object" && s.properties && !prefix) return { ...base, kind: "group", fields: fieldsFromSchema(s, key) };
    return base;
  });
}

function withBounds(field: FormField, s: JsonSchema): FormField {
  for (const k of ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"] as const) if (typeof s[k] === "number") field[k] = s[k];
  return field;
}

function withLengths(field: FormField, s: JsonSchema): FormField {
  if (typeof s.minLength === "number") field.minLength = s.minLength;
  if (typeof s.maxLength === "number") field.maxLength = s.maxLength;
  if (typeof s.pattern === "string") field.pattern = s.pattern;
  return field;
}

/** Every field that holds a value (a group's fields instead of the group). */
export function leafFields(fields: readonly FormField[]): FormField[] {
  return fields.flatMap((f) => (f.kind === "group" ? leafFields(f.fields ?? []) : [f]));
}

function getPath(obj: Record<string, unknown> | undefined, key: string): unknown {
  let cur: unknown = obj;
  for (const part of key.split(".")) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

function groupDefault(field: FormField, root: readonly FormField[]): unknown {
  // A group's default (gate: {...}) is the default of its fields when they have none of their own.
  const [groupKey] = field.key.split(".");
  const group = root.find((f) => f.key === groupKey && f.kind === "group");
  return group ? getPath(group.default as Record<string, unknown> | undefined, field.name) : undefined;
}

/** The text a value is edited as. */
export function valueToText(field: FormField, value: unknown): string | boolean {
  if (field.kind === "boolean") return value === true;
  if (value === undefined || value === null) return "";
  if (field.kind === "list" && Array.isArray(value)) return value.map(String).join(", ");
  if (field.kind === "json") return JSON.stringify(value);
  return String(value);
}

/**
 * The form's starting values: from `params` (e.g. the selected version's, which
 * the server stored with the defaults filled in) when given, else the schema's
 * defaults. An optional parameter without a value (an unset filter) stays empty.
 */
export function initialValues(fields: readonly FormField[], params?: Record<string, unknown>): FormValues {
  const values: FormValues = {};
  for (const f of leafFields(fields)) {
    const v = params !== undefined ? getPath(params, f.key) : (f.default ?? groupDefault(f, fields));
    values[f.key] = valueToText(f, v);
  }
  return values;
}

const fmt = (n: number) => (Number.isInteger(n) ? String(n) : String(Number(n.toPrecision(6))));

/** "an integer from 100 to 60000", "a number above 0, at most 100": what a numeric field takes. */
export function describeRange(field: Pick<FormField, "kind" | "item" | "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum">): string {
  const integer = field.kind === "integer" || field.item === "integer";
  const what = integer ? "a whole number" : "a number";
  const { minimum: min, maximum: max, exclusiveMinimum: xmin, exclusiveMaximum: xmax } = field;
  // zod writes "any safe integer" as ±2^53-1: that is no bound a person needs to read.
  const big = (n: number | undefined) => n !== undefined && Math.abs(n) >= Number.MAX_SAFE_INTEGER;
  const lo = big(min) ? undefined : min;
  const hi = big(max) ? undefined : max;
  if (lo !== undefined && hi !== undefined) return `${what} from ${fmt(lo)} to ${fmt(hi)}`;
  const parts: string[] = [];
  if (lo !== undefined) parts.push(`at least ${fmt(lo)}`);
  if (xmin !== undefined) parts.push(`above ${fmt(xmin)}`);
  if (hi !== undefined) parts.push(`at most ${fmt(hi)}`);
  if (xmax !== undefined) parts.push(`below ${fmt(xmax)}`);
  return parts.length ? `${what} ${parts.join(", ")}` : what;
}

/** A number typed in a field, or what is wrong with it (`intervalMs must be a whole number from 100 to 60000; "50" is below 100`). */
export function checkNumber(field: FormField, text: string, label = field.name): { value: number } | { error: string } {
  const t = text.trim();
  const n = t === "" ? NaN : Number(t);
  const wanted = `${label} must be ${describeRange(field)}`;
  if (!Number.isFinite(n)) return { error: `${wanted}; "${t}" is not a number` };
  const integer = field.kind === "integer" || field.item === "integer";
  if (integer && !Number.isInteger(n)) return { error: `${wanted}; ${t} has a fraction` };
  if (field.minimum !== undefined && n < field.minimum) return { error: `${wanted}; ${t} is below ${fmt(field.minimum)}` };
  if (field.exclusiveMinimum !== undefined && n <= field.exclusiveMinimum) return { error: `${wanted}; ${t} is not above ${fmt(field.exclusiveMinimum)}` };
  if (field.maximum !== undefined && n > field.maximum) return { error: `${wanted}; ${t} is above ${fmt(field.maximum)}` };
  if (field.exclusiveMaximum !== undefined && n >= field.exclusiveMaximum) return { error: `${wanted}; ${t} is not below ${fmt(field.exclusiveMaximum)}` };
  return { value: n };
}

function checkString(field: FormField, text: string, label = field.name): string | null {
  // JSON Schema lengths count characters (code points), as zod's do.
  const length = Array.from(text).length;
  if (field.minLength !== undefined && length < field.minLength) return `${label} must be at least ${field.minLength} character${field.minLength === 1 ? "" : "s"}`;
  if (field.maxLength !== undefined && length > field.maxLength) return `${label} is at most ${field.maxLength} characters; this is ${length}`;
  if (field.pattern !== undefined) {
    let re: RegExp | null = null;
    try {
      re = new RegExp(field.pattern, "u");
    } catch {
      try {
        re = new RegExp(field.pattern);
      } catch {
        re = null; // a pattern this browser cannot compile: the server checks it
      }
    }
    if (re && !re.test(text)) return `${label} must match ${field.pattern}${field.description ? ` (${field.description})` : ""}`;
  }
  return null;
}

/** The result of reading a form: the parameters to send, and what is wrong per field (nothing is sent while there is). */
export type ReadForm = { params: Record<string, unknown>; errors: FormErrors };

/**
 * The parameters a form's values stand for, checked against the schema. An empty
 * optional field is left out (the server fills its default in, and the spec hash
 * is the same as with the default spelled out).
 */
export function readForm(fields: readonly FormField[], values: FormValues, labels: Record<string, string> = {}): ReadForm {
  const params: Record<string, unknown> = {};
  const errors: FormErrors = {};
  for (const f of fields) {
    const label = labels[f.key] ?? f.name;
    if (f.kind === "group") {
      const inner = readForm(f.fields ?? [], values, labels);
      Object.assign(errors, inner.errors);
      if (Object.keys(inner.params).length > 0) params[f.name] = inner.params;
      continue;
    }
    const raw = values[f.key];
    if (f.kind === "boolean") {
      // An optional boolean without a default is only sent when set: false and absent mean the same to it.
      if (raw === true || f.required || f.default !== undefined) params[f.name] = raw === true;
      continue;
    }
    const text = typeof raw === "string" ? raw : "";
    if (text.trim() === "") {
      if (f.required && f.default === undefined) errors[f.key] = `${label} is required`;
      continue;
    }
    switch (f.kind) {
      case "integer":
      case "number": {
        const r = checkNumber(f, text, label);
        if ("error" in r) errors[f.key] = r.error;
        else params[f.name] = r.value;
        break;
      }
      case "string": {
        const err = checkString(f, text, label);
        if (err) errors[f.key] = err;
        else params[f.name] = text;
        break;
      }
      case "enum": {
        const option = (f.options ?? []).find((o) => String(o) === text);
        if (option === undefined) errors[f.key] = `${label} must be one of ${(f.options ?? []).map(String).join(", ")}`;
        else params[f.name] = option;
        break;
      }
      case "list": {
        const items = text
          .split(",")
          .map((s) => s.trim())
          .filter((s) => s !== "");
        const out: unknown[] = [];
        for (const item of items) {
          if (f.item === "string") {
            const err = checkString(f, item, `each ${label} item`);
            if (err) {
              errors[f.key] = `${err} ("${item}")`;
              break;
            }
            out.push(item);
          } else {
            const r = checkNumber(f, item, `each ${label} item`);
            if ("error" in r) {
              errors[f.key] = r.error;
              break;
            }
            out.push(r.value);
          }
        }
        if (errors[f.key]) break;
        if (f.minItems !== undefined && out.length < f.minItems) errors[f.key] = `${label} needs at least ${f.minItems} item${f.minItems === 1 ? "" : "s"}, comma-separated`;
        else if (f.maxItems !== undefined && out.length > f.maxItems) errors[f.key] = `${label} takes at most ${f.maxItems} items; this has ${out.length}`;
        else params[f.name] = out;
        break;
      }
      case "json": {
        try {
          params[f.name] = JSON.parse(text);
        } catch (err) {
          errors[f.key] = `${label} must be JSON, e.g. ${f.default !== undefined ? JSON.stringify(f.default) : '{"key": "value"}'}: ${(err as Error).message}`;
        }
        break;
      }
    }
  }
  return { params, errors };
}

/**
 * The server's 400 message split by the fields it names, so that each part shows
 * under its field: `parameters for tcp_flows: comm: comm is at most 15 bytes …;
 * intervalMs: …` or `invalid input: strategy.gate.timeoutSeconds: …`. What names
 * no field (`unknown parameter "pidd"; tcp_flows takes …`) is returned as `rest`.
 */
export function serverFieldErrors(message: string, fields: readonly FormField[], stripPrefixes: readonly string[] = ["params."]): { fields: FormErrors; rest: string[] } {
  const keys = new Set(leafFields(fields).map((f) => f.key));
  const groups = new Set(fields.filter((f) => f.kind === "group").map((f) => f.key));
  const body = message.replace(/^invalid input: /, "").replace(/^parameters for [\w-]+: /, "");
  const out: FormErrors = {};
  const rest: string[] = [];
  // Split only where the next part starts with "path: " (messages themselves may hold "; ").
  for (const part of body.split(/; (?=[\w.[\]]+: )/)) {
    const m = /^([\w.[\]]+): ([\s\S]*)$/.exec(part);
    let key = m?.[1];
    for (const p of stripPrefixes) if (key?.startsWith(p)) key = key.slice(p.length);
    if (m && key && (keys.has(key) || groups.has(key))) out[key] = out[key] ? `${out[key]}; ${m[2]}` : m[2]!;
    else if (part.trim()) rest.push(part.trim());
  }
  return { fields: out, rest };
}

/** Parameter name → [before, after] for the parameters that differ (what a new version would change). */
export function changedParams(before: Record<string, unknown>, after: Record<string, unknown>): { key: string; before: unknown; after: unknown }[] {
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
  return keys.filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k])).map((k) => ({ key: k, before: before[k], after: after[k] }));
}

/**
 * JSON with every object's keys sorted, indented: the spec as the control plane
 * hashes it (its canonical form is the same keys and values, unindented).
 */
export function canonicalSpecText(value: unknown): string {
  const sort = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(sort) : v !== null && typeof v === "object" ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sort((v as Record<string, unknown>)[k])])) : v;
  return JSON.stringify(sort(value), null, 2);
}
