import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { PROBE_KINDS, probeParamsSchema } from "@probepilot/shared";
import { canonicalJson, specHash } from "../../../src/services/probes/spec-hash.ts";
import { parseProbeParams } from "../../../src/services/probes/parse-probe-params.ts";
import { parseParamFlags, parseParamsFlag } from "../../../src/cli/commands/probes.ts";

describe("canonicalJson", () => {
  it("sorts keys at every depth and keeps array order", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: "x" } })).toBe('{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}');
  });

  it("leaves out undefined members, as JSON does", () => {
    expect(canonicalJson({ a: 1, b: undefined })).toBe(canonicalJson({ a: 1 }));
  });

  it("gives the same text for any key order (property)", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (value) => {
        const reversed = Object.fromEntries(Object.entries(value).reverse());
        expect(canonicalJson(reversed)).toBe(canonicalJson(value));
        // And it is JSON that reads back as the same value.
        expect(JSON.parse(canonicalJson(value))).toEqual(JSON.parse(JSON.stringify(value)));
      }),
    );
  });
});

describe("specHash", () => {
  it("is sha256: and the hex SHA-256 of the canonical {kind, params}", () => {
    const expected = createHash("sha256").update('{"kind":"host","params":{"intervalMs":1000}}').digest("hex");
    expect(specHash("host", { intervalMs: 1000 })).toBe(`sha256:${expected}`);
    expect(specHash("host", { intervalMs: 1000 })).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it("does not depend on key order", () => {
    expect(specHash("tcp_flows", { comm: "nginx", minDurationMs: 5 })).toBe(specHash("tcp_flows", { minDurationMs: 5, comm: "nginx" }));
  });

  it("hashes {} and the explicit defaults alike once parsed", () => {
    for (const kind of PROBE_KINDS) {
      const defaults = probeParamsSchema(kind).parse({}) as Record<string, unknown>;
      expect(specHash(kind, parseProbeParams(kind, {}))).toBe(specHash(kind, parseProbeParams(kind, { ...defaults })));
    }
    expect(specHash("tcp_flows", parseProbeParams("tcp_flows", { intervalMs: 1000 }))).toBe(specHash("tcp_flows", parseProbeParams("tcp_flows", {})));
  });

  it("differs by kind with the same params, and by any param value", () => {
    expect(specHash("runqueue_latency", { intervalMs: 1000 })).not.toBe(specHash("block_io_latency", { intervalMs: 1000 }));
    expect(specHash("tcp_flows", parseProbeParams("tcp_flows", { minDurationMs: 5 }))).not.toBe(specHash("tcp_flows", parseProbeParams("tcp_flows", {})));
    expect(specHash("tcp_flows", { comm: "a" })).not.toBe(specHash("tcp_flows", { comm: "b" }));
  });
});

describe("parseProbeParams", () => {
  it("fills defaults", () => {
    expect(parseProbeParams("tcp_flows", { comm: "nginx" })).toEqual({ comm: "nginx", minDurationMs: 0, maxEventsPerSec: 2000, intervalMs: 1000 });
  });

  it("names an unknown parameter and lists what the kind takes", () => {
    expect(() => parseProbeParams("tcp_flows", { pidd: 1 })).toThrow(
      'parameters for tcp_flows: unknown parameter "pidd"; tcp_flows takes pid, comm, cgroup, minDurationMs, maxEventsPerSec, intervalMs',
    );
  });

  it("names a field of the wrong type, once per distinct problem", () => {
    expect(() => parseProbeParams("tcp_flows", { minDurationMs: "5" })).toThrow("parameters for tcp_flows: minDurationMs: Invalid input: expected number, received string");
    expect(() => parseProbeParams("tcp_flows", { comm: "x".repeat(16) })).toThrow(/^parameters for tcp_flows: comm: comm is at most 15 bytes \(the kernel's TASK_COMM_LEN - 1\)$/);
  });

  it("refuses a NUL character, which Postgres jsonb cannot store", () => {
    expect(() => parseProbeParams("file_open", { pathPrefix: "/etc\0" })).toThrow("parameters for file_open: pathPrefix: must not contain a NUL character (U+0000)");
  });
});

describe("probes create-version flags", () => {
  it("--param values are JSON when they parse, else text", () => {
    expect(parseParamFlags(JSON.stringify(["comm=nginx", "minDurationMs=5", "failedOnly=true", 'pathPrefix="123"', "cgroup=/a=b"]))).toEqual({
      comm: "nginx",
      minDurationMs: 5,
      failedOnly: true,
      pathPrefix: "123",
      cgroup: "/a=b",
    });
  });

  it("--param without = or given twice is a usage error", () => {
    expect(() => parseParamFlags(JSON.stringify(["comm"]))).toThrow(/expected name=value/);
    expect(() => parseParamFlags(JSON.stringify(["comm=a", "comm=b"]))).toThrow(/given twice/);
  });

  it("--params must be a JSON object", () => {
    expect(parseParamsFlag('{"comm":"x"}')).toEqual({ comm: "x" });
    expect(() => parseParamsFlag("[1]")).toThrow(/expected a JSON object/);
    expect(() => parseParamsFlag("{comm")).toThrow(/not valid JSON/);
  });
});
