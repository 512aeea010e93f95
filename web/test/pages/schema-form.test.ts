import { describe, expect, it } from "vitest";
import { probeParamsSchema, PROBE_KINDS } from "@probepilot/shared";
import {
  canonicalSpecText,
  changedParams,
  describeRange,
  fieldsFromSchema,
  initialValues,
  leafFields,
  readForm,
  serverFieldErrors,
  type JsonSchema,
} from "../../src/pages/probes/schema-form.ts";

/** The JSON Schema `probes.paramsSchema` serves for a kind (the control plane calls z.toJSONSchema the same way). */
const paramsSchemaOf = (kind: (typeof PROBE_KINDS)[number]) => probeParamsSchema(kind).toJSONSchema({ io: "input" }) as JsonSchema;

/** A schema with every shape the form handles, as zod would write it. */
const KITCHEN_SINK: JsonSchema = {
  type: "object",
  properties: {
    mode: { type: "string", enum: ["fast", "slow"], default: "fast", description: "How hard to try." },
    ports: { type: "array", items: { type: "integer", minimum: 1, maximum: 65535 }, maxItems: 3 },
    comms: { type: "array", items: { type: "string", maxLength: 4 }, minItems: 1 },
    ratio: { type: "number", exclusiveMinimum: 0, maximum: 1 },
    verbose: { type: "boolean" },
    on: { type: "boolean", default: true },
    name: { anyOf: [{ type: "string", minLength: 2 }, { type: "null" }], description: "nullable" },
    limits: { type: "object", properties: { soft: { type: "integer", default: 5 }, hard: { type: "integer", minimum: 10 }, deep: { type: "object", properties: { x: { type: "number" } } } }, required: ["hard"] },
    blob: { type: "array", items: { type: "object", properties: {} } },
    id: { type: "string" },
  },
  required: ["id"],
  additionalProperties: false,
};

describe("fieldsFromSchema", () => {
  it("turns a real probe parameter schema into fields in declaration order, with bounds, defaults and descriptions", () => {
    const fields = fieldsFromSchema(paramsSchemaOf("tcp_flows"));
    expect(fields.map((f) => [f.key, f.kind])).toEqual([
      ["pid", "integer"],
      ["comm", "string"],
      ["cgroup", "string"],
      ["minDurationMs", "number"],
      ["maxEventsPerSec", "integer"],
      ["intervalMs", "integer"],
    ]);
    const interval = fields.find((f) => f.key === "intervalMs")!;
    expect(interval).toMatchObject({ default: 1000, minimum: 100, maximum: 60_000, required: false });
    expect(interval.description).toMatch(/How often/);
    expect(fields.find((f) => f.key === "comm")).toMatchObject({ maxLength: 15, minLength: 1 });
    expect(fields.find((f) => f.key === "cgroup")!.pattern).toBeTypeOf("string");
  });

  it("covers every built-in kind without falling back to JSON editing", () => {
    for (const kind of PROBE_KINDS) {
      const kinds = leafFields(fieldsFromSchema(paramsSchemaOf(kind))).map((f) => f.kind);
      expect(kinds, kind).not.toContain("json");
      expect(kinds.length, kind).toBeGreaterThan(0);
    }
    expect(fieldsFromSchema(paramsSchemaOf("file_open")).find((f) => f.key === "failedOnly")).toMatchObject({ kind: "boolean", default: false });
  });

  it("maps enums to choices, arrays of scalars to lists, nullable to its type, one level of objects to a group, and the rest to JSON", () => {
    const fields = fieldsFromSchema(KITCHEN_SINK);
    const byKey = Object.fromEntries(leafFields(fields).map((f) => [f.key, f]));
    expect(byKey.mode).toMatchObject({ kind: "enum", options: ["fast", "slow"], default: "fast" });
    expect(byKey.ports).toMatchObject({ kind: "list", item: "integer", minimum: 1, maximum: 65535, maxItems: 3 });
    expect(byKey.comms).toMatchObject({ kind: "list", item: "string", maxLength: 4, minItems: 1 });
    expect(byKey.name).toMatchObject({ kind: "string", minLength: 2, description: "nullable" });
    expect(byKey.id).toMatchObject({ kind: "string", required: true });
    expect(byKey.blob!.kind).toBe("json");
    const group = fields.find((f) => f.key === "limits")!;
    expect(group.kind).toBe("group");
    expect(group.fields!.map((f) => [f.key, f.kind, f.required])).toEqual([
      ["limits.soft", "integer", false],
      ["limits.hard", "integer", true],
      // Only one level of nesting becomes fields: deeper objects are JSON.
      ["limits.deep", "json", false],
    ]);
  });
});

describe("initialValues", () => {
  it("pre-fills from a version's parameters, leaving unset filters empty", () => {
    const fields = fieldsFromSchema(paramsSchemaOf("file_open"));
    const values = initialValues(fields, { comm: "nginx", failedOnly: true, maxEventsPerSec: 500, intervalMs: 2000 });
    expect(values).toEqual({ pid: "", comm: "nginx", cgroup: "", pathPrefix: "", failedOnly: true, maxEventsPerSec: "500", intervalMs: "2000" });
  });

  it("uses the schema's defaults when there is no version", () => {
    const values = initialValues(fieldsFromSchema(KITCHEN_SINK));
    expect(values).toMatchObject({ mode: "fast", on: true, verbose: false, "limits.soft": "5", "limits.hard": "", ports: "" });
  });

  it("writes lists comma-separated and JSON fields as JSON", () => {
    const values = initialValues(fieldsFromSchema(KITCHEN_SINK), { ports: [80, 443], comms: ["a", "b"], blob: [{}], limits: { hard: 12, deep: { x: 1 } } });
    expect(values).toMatchObject({ ports: "80, 443", comms: "a, b", blob: "[{}]", "limits.hard": "12", "limits.deep": '{"x":1}' });
  });
});

describe("readForm", () => {
  const tcp = fieldsFromSchema(paramsSchemaOf("tcp_flows"));

  it("round-trips a version's parameters", () => {
    const params = { comm: "curl", minDurationMs: 2.5, maxEventsPerSec: 2000, intervalMs: 1000 };
    expect(readForm(tcp, initialValues(tcp, params))).toEqual({ params, errors: {} });
  });

  it("leaves empty optional fields out (the server fills in defaults) and keeps text as typed", () => {
    const r = readForm(tcp, { ...initialValues(tcp), intervalMs: "  ", comm: " ng " });
    expect(r.errors).toEqual({});
    expect(r.params).toEqual({ comm: " ng ", minDurationMs: 0, maxEventsPerSec: 2000 });
  });

  it("checks numbers against type and bounds, saying what would be right", () => {
    const r = readForm(tcp, { ...initialValues(tcp), intervalMs: "50", pid: "1.5", maxEventsPerSec: "lots", minDurationMs: "90000000" });
    expect(r.errors.intervalMs).toBe('intervalMs must be a whole number from 100 to 60000; 50 is below 100');
    expect(r.errors.pid).toBe("pid must be a whole number from 1 to 4194304; 1.5 has a fraction");
    expect(r.errors.maxEventsPerSec).toBe('maxEventsPerSec must be a whole number from 1 to 100000; "lots" is not a number');
    expect(r.errors.minDurationMs).toMatch(/^minDurationMs must be a number from 0 to 86400000; 90000000 is above 86400000$/);
    expect(r.params).not.toHaveProperty("intervalMs");
  });

  it("checks string lengths and patterns", () => {
    const r = readForm(tcp, { ...initialValues(tcp), comm: "a-very-long-command", cgroup: "system.slice" });
    expect(r.errors.comm).toBe("comm is at most 15 characters; this is 19");
    expect(r.errors.cgroup).toMatch(/^cgroup must match/);
    expect(readForm(tcp, { ...initialValues(tcp), cgroup: "/system.slice/nginx.service" }).errors).toEqual({});
  });

  it("reads booleans, enums, lists, groups and JSON, with required fields enforced", () => {
    const fields = fieldsFromSchema(KITCHEN_SINK);
    const ok = readForm(fields, { ...initialValues(fields), id: "x", mode: "slow", ports: "80, 443,", comms: "ab", ratio: "0.5", verbose: false, on: false, "limits.hard": "10", blob: "[{}]" });
    expect(ok.errors).toEqual({});
    expect(ok.params).toEqual({ id: "x", mode: "slow", ports: [80, 443], comms: ["ab"], ratio: 0.5, on: false, limits: { soft: 5, hard: 10 }, blob: [{}] });

    const bad = readForm(fields, { ...initialValues(fields), ports: "80, 0", comms: " , ", ratio: "0", "limits.hard": "3", blob: "[{", mode: "medium" });
    expect(bad.errors).toMatchObject({
      id: "id is required",
      ports: "each ports item must be a whole number from 1 to 65535; 0 is below 1",
      ratio: "ratio must be a number above 0, at most 1; 0 is not above 0",
      "limits.hard": "hard must be a whole number at least 10; 3 is below 10",
      mode: "mode must be one of fast, slow",
    });
    expect(bad.errors.blob).toMatch(/^blob must be JSON/);
    // An empty list of an optional field is left out; a required count of items is checked.
    expect(readForm(fields, { ...initialValues(fields), id: "x", "limits.hard": "10", comms: "abcde" }).errors.comms).toBe('each comms item is at most 4 characters; this is 5 ("abcde")');
    expect(readForm(fields, { ...initialValues(fields), id: "x", "limits.hard": "10", ports: "1,2,3,4" }).errors.ports).toBe("ports takes at most 3 items; this has 4");
  });

  it("names fields by their labels when given", () => {
    const r = readForm(tcp, { ...initialValues(tcp), intervalMs: "5" }, { intervalMs: "Interval (ms)" });
    expect(r.errors.intervalMs).toMatch(/^Interval \(ms\) must be/);
  });
});

describe("serverFieldErrors", () => {
  const tcp = fieldsFromSchema(paramsSchemaOf("tcp_flows"));

  it("puts each part of the server's parameter message under its field", () => {
    const msg = "parameters for tcp_flows: comm: comm is at most 15 bytes (the kernel's TASK_COMM_LEN - 1); intervalMs: Too small: expected number to be >=100";
    expect(serverFieldErrors(msg, tcp)).toEqual({
      fields: { comm: "comm is at most 15 bytes (the kernel's TASK_COMM_LEN - 1)", intervalMs: "Too small: expected number to be >=100" },
      rest: [],
    });
  });

  it("keeps what names no field (an unknown parameter, whose message has its own '; ') as the rest", () => {
    const msg = 'parameters for tcp_flows: unknown parameter "pidd"; tcp_flows takes pid, comm, cgroup, minDurationMs, maxEventsPerSec, intervalMs; comm: too long';
    expect(serverFieldErrors(msg, tcp)).toEqual({ fields: { comm: "too long" }, rest: ['unknown parameter "pidd"; tcp_flows takes pid, comm, cgroup, minDurationMs, maxEventsPerSec, intervalMs'] });
  });

  it("reads input-validation messages with a prefix to strip (the wizard's strategy fields)", () => {
    const fields = fieldsFromSchema({ type: "object", properties: { bakeSeconds: { type: "integer" }, gate: { type: "object", properties: { timeoutSeconds: { type: "integer" } } } } });
    const msg = "invalid input: strategy.gate.timeoutSeconds: Too big: expected number to be <=86400; selector: expected a label key";
    expect(serverFieldErrors(msg, fields, ["strategy."])).toEqual({ fields: { "gate.timeoutSeconds": "Too big: expected number to be <=86400" }, rest: ["selector: expected a label key"] });
  });
});

describe("helpers", () => {
  it("describes ranges, leaving out zod's safe-integer bounds", () => {
    expect(describeRange({ kind: "integer", minimum: 1, maximum: Number.MAX_SAFE_INTEGER })).toBe("a whole number at least 1");
    expect(describeRange({ kind: "number", exclusiveMinimum: 0, maximum: 100 })).toBe("a number above 0, at most 100");
    expect(describeRange({ kind: "number" })).toBe("a number");
  });

  it("lists what a new version would change", () => {
    expect(changedParams({ intervalMs: 1000, comm: "a" }, { intervalMs: 500, comm: "a", pid: 3 })).toEqual([
      { key: "intervalMs", before: 1000, after: 500 },
      { key: "pid", before: undefined, after: 3 },
    ]);
  });

  it("prints the spec with its keys sorted at every level", () => {
    expect(canonicalSpecText({ params: { z: 1, a: { y: 2, b: [3, { d: 1, c: 2 }] } }, kind: "host" })).toBe(
      JSON.stringify({ kind: "host", params: { a: { b: [3, { c: 2, d: 1 }], y: 2 }, z: 1 } }, null, 2),
    );
  });
});
