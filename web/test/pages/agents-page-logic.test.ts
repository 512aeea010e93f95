import { describe, expect, it } from "vitest";
import { parseSelector, matchesSelector, type ProbeStatus } from "@probepilot/shared";
import { HOST_FACT_KEYS, labelChips, labelRows, withRequirement } from "../../src/pages/agents/agent-labels.ts";
import { rowKeyAction } from "../../src/pages/agents/row-navigation.ts";
import { capabilityRows, hasCapability } from "../../src/pages/agents/capabilities.ts";
import { probeStateCounts, runsPerSecond, sortProbes } from "../../src/pages/agents/probe-rows.ts";
import { agentChartSelector } from "../../src/pages/agents/agent-selector.ts";

describe("labelChips", () => {
  const labels = { "probepilot.io/simulated": "true", team: "net", env: "prod", region: "eu", zone: "a", "probepilot.io/hostname": "h1" };

  it("puts operators' labels first, sorted, and counts what does not fit", () => {
    const { shown, hidden } = labelChips(labels, 3, HOST_FACT_KEYS);
    expect(shown).toEqual([
      ["env", "prod"],
      ["region", "eu"],
      ["team", "net"],
    ]);
    expect(hidden).toEqual([
      ["zone", "a"],
      ["probepilot.io/simulated", "true"],
    ]);
  });

  it("shows the last label rather than a +1 chip in its place", () => {
    const { shown, hidden } = labelChips({ a: "1", b: "2", c: "3" }, 2);
    expect(shown.map(([k]) => k)).toEqual(["a", "b", "c"]);
    expect(hidden).toEqual([]);
  });

  it("leaves out the hidden keys and handles none at all", () => {
    expect(labelChips({ "probepilot.io/hostname": "h1" }, 4, HOST_FACT_KEYS)).toEqual({ shown: [], hidden: [] });
    expect(labelChips({}, 0)).toEqual({ shown: [], hidden: [] });
  });
});

describe("labelRows", () => {
  it("says which layer each effective label comes from and what a central label overrides", () => {
    const rows = labelRows({
      hostLabels: { "probepilot.io/hostname": "h1", "probepilot.io/arch": "amd64" },
      userLabels: { env: "local", tier: "bronze" },
      centralLabels: { tier: "gold", "probepilot.io/arch": "arm64" },
    });
    expect(rows).toEqual([
      { key: "env", value: "local", source: "user", overrides: [] },
      { key: "tier", value: "gold", source: "central", overrides: [{ source: "user", value: "bronze" }] },
      { key: "probepilot.io/arch", value: "arm64", source: "central", overrides: [{ source: "host", value: "amd64" }] },
      { key: "probepilot.io/hostname", value: "h1", source: "host", overrides: [] },
    ]);
  });
});

describe("withRequirement", () => {
  it("starts a selector, appends to one, and does not repeat a requirement", () => {
    expect(withRequirement("", "env", "prod")).toBe("env=prod");
    expect(withRequirement("region in (eu,us)", "env", "prod")).toBe("region in (eu,us), env=prod");
    expect(withRequirement("env=prod, ", "team", "net")).toBe("env=prod, team=net");
    expect(withRequirement("env=prod", "env", "prod")).toBe("env=prod");
  });

  it("replaces a selector that does not parse", () => {
    expect(withRequirement("env in staging", "env", "prod")).toBe("env=prod");
  });

  it("writes an empty value in a form the parser accepts and that matches it", () => {
    const text = withRequirement("", "flag", "");
    const selector = parseSelector(text);
    expect(matchesSelector(selector, { flag: "" })).toBe(true);
    expect(matchesSelector(selector, { flag: "x" })).toBe(false);
  });
});

describe("rowKeyAction", () => {
  it("moves with j/k and the arrows, stopping at the ends", () => {
    expect(rowKeyAction("j", 0, 3)).toBe(1);
    expect(rowKeyAction("ArrowDown", 2, 3)).toBe(2);
    expect(rowKeyAction("k", 1, 3)).toBe(0);
    expect(rowKeyAction("ArrowUp", 0, 3)).toBe(0);
    expect(rowKeyAction("Home", 2, 3)).toBe(0);
    expect(rowKeyAction("End", 0, 3)).toBe(2);
  });

  it("selects the first or last row when nothing (or a row gone after a refresh) is selected", () => {
    expect(rowKeyAction("j", -1, 3)).toBe(0);
    expect(rowKeyAction("k", -1, 3)).toBe(2);
    expect(rowKeyAction("j", 7, 3)).toBe(0);
  });

  it("opens only a selected row, and lets other keys through", () => {
    expect(rowKeyAction("Enter", 1, 3)).toBe("open");
    expect(rowKeyAction("o", 1, 3)).toBe("open");
    expect(rowKeyAction("Enter", -1, 3)).toBeNull();
    expect(rowKeyAction("j", -1, 0)).toBeNull();
    expect(rowKeyAction("x", 0, 3)).toBeNull();
  });
});

describe("capabilities", () => {
  it("reads bits of a CapEff mask, and nothing from an unreadable one", () => {
    // The agent on the dev VM: everything but CAP_SYS_RESOURCE (bit 24).
    expect(hasCapability("000001fffeffffff", 39)).toBe(true);
    expect(hasCapability("000001fffeffffff", 24)).toBe(false);
    expect(hasCapability("000001fffeffffff", 21)).toBe(true);
    expect(hasCapability("0000000000000000", 39)).toBe(false);
    expect(hasCapability("", 39)).toBeUndefined();
    expect(hasCapability("zz", 39)).toBeUndefined();
  });

  it("turns the report into lines with the agent's reasons", () => {
    const rows = capabilityRows({
      btf: true,
      bpfSyscall: { permitted: false, reason: "no CAP_BPF or CAP_SYS_ADMIN: run the agent as root" },
      tracepoints: { available: true, tracefs: "/sys/kernel/tracing" },
      perfEvents: { available: true, paranoid: 2 },
      kprobes: { available: false, reason: "kernel built without CONFIG_KPROBES" },
      uid: 1000,
      capEff: "",
    });
    const byName = Object.fromEntries(rows.map((r) => [r.name, r]));
    expect(byName["bpf() syscall"]).toEqual({ name: "bpf() syscall", ok: false, detail: "no CAP_BPF or CAP_SYS_ADMIN: run the agent as root" });
    expect(byName["Tracepoints"]!.detail).toContain("/sys/kernel/tracing");
    expect(byName["Perf events"]!.detail).toContain("perf_event_paranoid 2");
    expect(byName["kprobes"]!.detail).toBe("kernel built without CONFIG_KPROBES");
    expect(byName["Runs as"]!.detail).toBe("uid 1000");
    expect(byName["CAP_BPF"]!.ok).toBeNull();
  });
});

describe("probe rows", () => {
  const probe = (kind: string, state: ProbeStatus["state"]): ProbeStatus => ({ kind: kind as ProbeStatus["kind"], state, version: "v1", since: 0 });

  it("lists broken probes first, then by kind, and counts states in that order", () => {
    const probes = [probe("tcp_flows", "running"), probe("host", "running"), probe("oom_kills", "unsupported"), probe("file_open", "failed")];
    expect(sortProbes(probes).map((p) => p.kind)).toEqual(["file_open", "host", "tcp_flows", "oom_kills"]);
    expect(probeStateCounts(probes)).toEqual([
      { state: "failed", count: 1 },
      { state: "running", count: 2 },
      { state: "unsupported", count: 1 },
    ]);
  });

  it("derives runs per second from cumulative counts, and nothing across a reload", () => {
    expect(runsPerSecond({ kernelRunCount: 1000, at: 10_000 }, { kernelRunCount: 6000, at: 20_000 })).toBe(500);
    expect(runsPerSecond(undefined, { kernelRunCount: 5, at: 1 })).toBeNull();
    expect(runsPerSecond({ kernelRunCount: 10, at: 5 }, { kernelRunCount: 20, at: 5 })).toBeNull();
    expect(runsPerSecond({ kernelRunCount: 5000, at: 1 }, { kernelRunCount: 10, at: 2 })).toBeNull();
  });
});

describe("agentChartSelector", () => {
  it("selects the agent by the hostname label it carries, which the telemetry selectors match", () => {
    const labels = { "probepilot.io/hostname": "vm", env: "local" };
    const selector = agentChartSelector({ labels });
    expect(selector).toBe("probepilot.io/hostname=vm");
    expect(matchesSelector(parseSelector(selector!), labels)).toBe(true);
    expect(matchesSelector(parseSelector(selector!), { "probepilot.io/hostname": "other" })).toBe(false);
  });

  it("gives no selector (not the whole fleet) for an agent without the label", () => {
    expect(agentChartSelector({ labels: { env: "local" } })).toBeNull();
  });
});
