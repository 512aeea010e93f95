import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { PROBE_KINDS } from "@probepilot/shared";
import { renderProbeReference, withFreshReference } from "../../src/probes/probe-docs.ts";
import { BPF_PROBES } from "../../src/probes/bpf/bpf-catalog.ts";

const doc = readFileSync(fileURLToPath(new URL("../../../docs/probes.md", import.meta.url)), "utf8");

describe("docs/probes.md", () => {
  it("has the reference rendered from the current probe definitions (run `pnpm docs:probes` when this fails)", () => {
    expect(withFreshReference(doc)).toBe(doc);
  });

  it("documents every kind, every eBPF output and every parameter", () => {
    const reference = renderProbeReference();
    for (const kind of PROBE_KINDS) expect(reference).toContain(`### \`${kind}\``);
    for (const def of Object.values(BPF_PROBES)) for (const o of def.outputs) expect(reference).toContain(`| \`${o.name}\` |`);
    expect(reference).toContain("| `pathPrefix` | string |");
    expect(reference).toContain("| `sampleHz` | integer | `49` | 1–1000 |");
  });
});
