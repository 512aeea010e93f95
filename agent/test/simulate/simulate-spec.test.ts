import { describe, expect, it } from "vitest";
import { AgentHelloSchema, waveHash } from "@probepilot/shared";
import {
  DEFAULT_STRATA_SPEC,
  FleetSpecError,
  labelsForAgent,
  parseCostSpec,
  parseFailSpec,
  parseLabelsSpec,
  parseRatio,
  parseStrataSpec,
  parseUnsupportedSpec,
  ruleFor,
  simulatedCostPercent,
  simulatedOutcome,
  simulationHash,
  stratumForAgent,
} from "../../src/simulate/fleet-spec.ts";
import { simulatedHello, simulatedHostname } from "../../src/simulate/simulated-host.ts";
import { SimulatedProbeCatalog } from "../../src/simulate/simulated-catalog.ts";
import { parseSimulateEnv } from "../../src/simulate/simulate-env.ts";

/** Fixed, agent-id-shaped ids: the test must not depend on randomness. */
const ids = (n: number) => Array.from({ length: n }, (_, i) => `agt_${i.toString(36).padStart(26, "0")}`);

const count = <T>(items: T[], pred: (t: T) => boolean) => items.filter(pred).length;

describe("ratios", () => {
  it("accepts 0.3 and 30% alike, and the bounds", () => {
    expect(parseRatio("0.3", "x")).toBe(0.3);
    expect(parseRatio("30%", "x")).toBeCloseTo(0.3);
    expect(parseRatio(" 0 ", "x")).toBe(0);
    expect(parseRatio("100%", "x")).toBe(1);
    expect(parseRatio(".5", "x")).toBe(0.5);
  });

  it.each(["1.5", "150%", "-0.1", "abc", "", "30 %", "0.3%%"])("rejects %j saying what a ratio is", (text) => {
    expect(() => parseRatio(text, "--fail \"x\"")).toThrow(FleetSpecError);
    expect(() => parseRatio(text, "--fail \"x\"")).toThrow(/--fail "x": ratio .* expected a number from 0 to 1 \(0\.3\) or a percentage from 0% to 100% \(30%\)/);
  });
});

describe("--labels", () => {
  it("parses even, weighted and single values", () => {
    const spec = parseLabelsSpec("env=prod:80%|staging:20%,region=eu|us|ap,team=net");
    expect(spec).toEqual([
      { key: "env", dimension: 1, mode: "weighted", values: [{ value: "prod", weight: 0.8 }, { value: "staging", weight: 0.2 }] },
      { key: "region", dimension: 2, mode: "even", values: ["eu", "us", "ap"] },
      { key: "team", dimension: 3, mode: "even", values: ["net"] },
    ]);
    expect(parseLabelsSpec("")).toEqual([]);
    expect(parseLabelsSpec("example.com/tier=gold")).toEqual([{ key: "example.com/tier", dimension: 1, mode: "even", values: ["gold"] }]);
  });

  it("gives agent i the (i mod n)-th value of an even spread", () => {
    const spec = parseLabelsSpec("region=eu|us|ap,team=net");
    expect([0, 1, 2, 3, 4].map((i) => labelsForAgent(spec, i))).toEqual([
      { region: "eu", team: "net" },
      { region: "us", team: "net" },
      { region: "ap", team: "net" },
      { region: "eu", team: "net" },
      { region: "us", team: "net" },
    ]);
  });

  it("splits weighted values by index almost exactly, for any prefix of the fleet, the same every time", () => {
    const spec = parseLabelsSpec("env=prod:80%|staging:15%|dev:5%");
    for (const n of [20, 200, 2000, 10_000]) {
      const labels = Array.from({ length: n }, (_, i) => labelsForAgent(spec, i).env);
      expect(Math.abs(count(labels, (v) => v === "prod") - 0.8 * n)).toBeLessThanOrEqual(2);
      expect(Math.abs(count(labels, (v) => v === "staging") - 0.15 * n)).toBeLessThanOrEqual(2);
      expect(Math.abs(count(labels, (v) => v === "dev") - 0.05 * n)).toBeLessThanOrEqual(2);
    }
    expect(labelsForAgent(spec, 1234)).toEqual(labelsForAgent(parseLabelsSpec("env=prod:80%|staging:15%|dev:5%"), 1234));
  });

  it("does not correlate two weighted keys, nor a weighted key with the strata", () => {
    const spec = parseLabelsSpec("env=prod:50%|staging:50%,zone=a:50%|b:50%");
    const strata = parseStrataSpec("k1/amd64/debian-12=50%,k2/arm64/debian-12=50%");
    const n = 4000;
    let both = 0;
    let stagingArm = 0;
    for (let i = 0; i < n; i++) {
      const l = labelsForAgent(spec, i);
      if (l.env === "staging" && l.zone === "b") both++;
      if (l.env === "staging" && stratumForAgent(strata, i).arch === "arm64") stagingArm++;
    }
    // Independent halves: a quarter each (a correlated split would give 0 or a half).
    expect(both / n).toBeGreaterThan(0.22);
    expect(both / n).toBeLessThan(0.28);
    expect(stagingArm / n).toBeGreaterThan(0.22);
    expect(stagingArm / n).toBeLessThan(0.28);
  });

  it.each([
    ["env", /pair 1 "env": expected key=value/],
    ["env=prod,", /pair 2 "": empty/],
    ["Env Var=x", /pair 1 "Env Var=x": label key "Env Var": name must be/],
    ["env=pro d", /pair 1 "env=pro d": label value "pro d": value must be/],
    ["env=prod||dev", /pair 1 "env=prod\|\|dev": empty value/],
    ["env=prod:80%|staging", /give every value a weight \(prod:80%\|staging:20%\) or none/],
    ["env=prod:80%|staging:30%", /the weights add up to 110%; expected 100%/],
    ["env=prod:eighty|dev:20%", /value "prod": ratio "eighty" is not a share/],
    ["env=a,env=b", /key "env" is given twice/],
    ["env=a|a", /value "a" is given twice/],
    ["probepilot.io/arch=arm64", /keys under probepilot.io\/ are the host facts/],
  ])("rejects %j naming the bad part", (text, message) => {
    expect(() => parseLabelsSpec(text)).toThrow(FleetSpecError);
    expect(() => parseLabelsSpec(text)).toThrow(message);
  });
});

describe("--strata", () => {
  it("parses the default: three strata spelled as real agents report them", () => {
    expect(parseStrataSpec(DEFAULT_STRATA_SPEC)).toEqual([
      { kernel: "6.1.0-18-amd64", arch: "amd64", os: "debian-12", weight: 0.7 },
      { kernel: "5.15.0-91-generic", arch: "amd64", os: "ubuntu-22.04", weight: 0.2 },
      { kernel: "6.1.0-18-arm64", arch: "arm64", os: "debian-12", weight: 0.1 },
    ]);
  });

  it("takes uname arch spellings and an os containing /", () => {
    expect(parseStrataSpec("6.1.0-18-amd64/x86_64/Debian GNU/Linux 12=70%,6.1.0-18-arm64/aarch64/Debian GNU/Linux 12=30%")).toEqual([
      { kernel: "6.1.0-18-amd64", arch: "amd64", os: "Debian GNU/Linux 12", weight: 0.7 },
      { kernel: "6.1.0-18-arm64", arch: "arm64", os: "Debian GNU/Linux 12", weight: 0.3 },
    ]);
  });

  it("gives equal shares without weights", () => {
    const strata = parseStrataSpec("a/amd64/x,b/arm64/y");
    expect(strata.map((s) => s.weight)).toEqual([0.5, 0.5]);
    const arm = count(Array.from({ length: 1000 }, (_, i) => stratumForAgent(strata, i)), (s) => s.arch === "arm64");
    expect(Math.abs(arm - 500)).toBeLessThanOrEqual(2);
  });

  it.each([
    ["6.1/amd64", /stratum 1 "6.1\/amd64": expected KERNEL\/ARCH\/OS\[=WEIGHT\]/],
    ["a/amd64/x=70%,b/arm64/y", /give every stratum a weight/],
    ["a/amd64/x=70%,b/arm64/y=20%", /weights add up to 90%/],
    ["a/Intel x86/x", /arch "Intel x86" is not an architecture name/],
    ["a/amd64/x,a/x86_64/x", /stratum "a\/amd64\/x" is given twice/],
    ["a/amd64/x=1.5", /ratio "1.5" is not a share/],
  ])("rejects %j naming the bad stratum", (text, message) => {
    expect(() => parseStrataSpec(text)).toThrow(message);
  });
});

describe("--fail, --unsupported and --cost", () => {
  it("parses KIND[@VERSION]=VALUE entries and picks the most specific rule", () => {
    const fail = parseFailSpec("tcp_flows@v2=30%,tcp_flows=0.05,*=1%");
    expect(fail.map((r) => [r.kind, r.version, r.value])).toEqual([
      ["tcp_flows", "v2", 0.3],
      ["tcp_flows", null, 0.05],
      ["*", null, 0.01],
    ]);
    expect(ruleFor(fail, "tcp_flows", "v2")?.text).toBe("tcp_flows@v2=30%");
    expect(ruleFor(fail, "tcp_flows", "v3")?.text).toBe("tcp_flows=0.05");
    expect(ruleFor(fail, "host", "v1")?.text).toBe("*=1%");
    expect(ruleFor(parseFailSpec("tcp_flows@v2=30%"), "tcp_flows", "v1")).toBeUndefined();
    expect(parseFailSpec("")).toEqual([]);
    expect(parseUnsupportedSpec("cpu_profile=10%")[0]).toMatchObject({ kind: "cpu_profile", version: null, value: 0.1 });
    expect(parseCostSpec("tcp_flows@v3=2.5%,*=0.1").map((r) => r.value)).toEqual([2.5, 0.1]);
    expect(simulatedCostPercent(parseCostSpec("tcp_flows@v3=2.5%"), "tcp_flows", "v3")).toBe(2.5);
    expect(simulatedCostPercent(parseCostSpec("tcp_flows@v3=2.5%"), "tcp_flows", "v2")).toBe(0.2);
  });

  it.each([
    [() => parseFailSpec("tcp_flows"), /--fail "tcp_flows": entry 1 "tcp_flows": expected KIND\[@VERSION\]=VALUE, e.g. tcp_flows@v2=30%/],
    [() => parseFailSpec("tcpflows=30%"), /unknown probe kind "tcpflows"; expected one of host, tcp_flows,/],
    [() => parseFailSpec("tcp_flows@=30%"), /version "" should be a policy's probe.version such as v2/],
    [() => parseFailSpec("tcp_flows=130%"), /entry 1 "tcp_flows=130%": ratio "130%" is not a share/],
    [() => parseFailSpec("tcp_flows=1%,tcp_flows=2%"), /tcp_flows is given twice/],
    [() => parseUnsupportedSpec("host=x"), /--unsupported "host=x": entry 1 "host=x": ratio "x"/],
    [() => parseCostSpec("host=200"), /--cost "host=200": entry 1 "host=200": "200" is not a CPU share; expected percent of one core from 0 to 100/],
  ])("rejects bad input with the entry and what is expected (%#)", (parse, message) => {
    expect(parse).toThrow(FleetSpecError);
    expect(parse).toThrow(message);
  });
});

describe("deterministic probe outcomes", () => {
  const agents = ids(1000);
  const rules = { fail: parseFailSpec("tcp_flows@v2=30%"), unsupported: [] };

  it("fails a share close to the ratio, the same agents every time", () => {
    const failing = agents.filter((id) => simulatedOutcome(rules, id, "tcp_flows", "v2").outcome === "failed");
    // Binomial(1000, 0.3): σ ≈ 14.5; ±45 is over 3σ.
    expect(failing.length).toBeGreaterThanOrEqual(255);
    expect(failing.length).toBeLessThanOrEqual(345);
    const again = agents.filter((id) => simulatedOutcome({ fail: parseFailSpec("tcp_flows@v2=0.3"), unsupported: [] }, id, "tcp_flows", "v2").outcome === "failed");
    expect(again).toEqual(failing);
    // Only v2 fails; other kinds and versions run.
    expect(agents.filter((id) => simulatedOutcome(rules, id, "tcp_flows", "v3").outcome !== "running")).toEqual([]);
    expect(agents.filter((id) => simulatedOutcome(rules, id, "host", "v2").outcome !== "running")).toEqual([]);
  });

  it("only adds failing agents when the ratio grows, and 0% / 100% mean none / all", () => {
    const at = (ratio: string) => new Set(agents.filter((id) => simulatedOutcome({ fail: parseFailSpec(`tcp_flows=${ratio}`), unsupported: [] }, id, "tcp_flows", "v1").outcome === "failed"));
    const ten = at("10%");
    const thirty = at("30%");
    expect([...ten].every((id) => thirty.has(id))).toBe(true);
    expect(at("0%").size).toBe(0);
    expect(at("100%").size).toBe(1000);
  });

  it("is independent of wave positions: the failing agents are not the canary", () => {
    const failing = agents.filter((id) => simulatedOutcome(rules, id, "tcp_flows", "v2").outcome === "failed");
    const inFirstTenPercent = count(failing, (id) => waveHash(id, "rol_x") < 1000);
    expect(inFirstTenPercent / failing.length).toBeGreaterThan(0.04);
    expect(inFirstTenPercent / failing.length).toBeLessThan(0.16);
  });

  it("checks unsupported before failure, and keeps a kind unsupported for every version", () => {
    const both = { fail: parseFailSpec("tcp_flows=100%"), unsupported: parseUnsupportedSpec("tcp_flows=20%") };
    const outcomes = agents.map((id) => simulatedOutcome(both, id, "tcp_flows", "v1").outcome);
    const unsupported = count(outcomes, (o) => o === "unsupported");
    expect(unsupported).toBeGreaterThan(150);
    expect(unsupported).toBeLessThan(250);
    expect(count(outcomes, (o) => o === "failed")).toBe(1000 - unsupported);
    const v2 = agents.map((id) => simulatedOutcome(both, id, "tcp_flows", "v2").outcome);
    expect(v2.map((o) => o === "unsupported")).toEqual(outcomes.map((o) => o === "unsupported"));
  });

  it("hashes into [0, 1) with a different salt giving a different value", () => {
    for (const id of agents.slice(0, 50)) {
      const h = simulationHash("a", id, "tcp_flows@v1");
      expect(h).toBeGreaterThanOrEqual(0);
      expect(h).toBeLessThan(1);
      expect(simulationHash("a", id, "tcp_flows@v1")).toBe(h);
    }
    expect(count(agents, (id) => simulationHash("a", id, "x") < 0.5) - count(agents, (id) => simulationHash("a", id, "x") < 0.5 && simulationHash("b", id, "x") < 0.5)).toBeGreaterThan(150);
  });
});

describe("simulated catalog", () => {
  const behaviour = { fail: parseFailSpec("tcp_flows@v2=50%"), unsupported: parseUnsupportedSpec("cpu_profile=50%"), cost: parseCostSpec("tcp_flows=2.5"), startDelayMs: { min: 1, max: 5 } };
  const noop = () => {};
  const ctx = { params: {}, emit: noop, reportError: noop, fail: noop, log: undefined as never };

  it("starts, fails or reports unsupported exactly as simulatedOutcome says, with the flag in the message", async () => {
    for (const id of ids(40)) {
      const catalog = new SimulatedProbeCatalog(behaviour, () => id);
      const expected = simulatedOutcome(behaviour, id, "tcp_flows", "v2").outcome;
      const probe = catalog.factory("tcp_flows", "v2")(ctx);
      if (expected === "failed") await expect(probe.start()).rejects.toThrow("simulated failure of tcp_flows v2 on this agent (--fail tcp_flows@v2=50%)");
      else {
        await probe.start();
        const cost = probe.cost!;
        expect(cost.kernelCpuPercent + cost.loaderCpuPercent).toBeCloseTo(2.5);
        await probe.close();
        expect(probe.cost).toBeUndefined();
      }
      const reason = await catalog.unsupportedReason("cpu_profile", "v1");
      if (simulatedOutcome(behaviour, id, "cpu_profile", "v1").outcome === "unsupported") expect(reason).toBe("simulated: cpu_profile v1 is not supported on this host (--unsupported cpu_profile=50%)");
      else expect(reason).toBeNull();
    }
  });

  it("refuses to decide before the agent has an id", async () => {
    const catalog = new SimulatedProbeCatalog(behaviour, () => undefined);
    await expect(async () => catalog.unsupportedReason("host", "v1")).rejects.toThrow(/before the agent enrolled/);
  });
});

describe("simulated hosts", () => {
  it("names hosts sim-<prefix>-00001 and builds a valid hello with host labels like a real agent's", () => {
    expect(simulatedHostname("eu", 0, 200)).toBe("sim-eu-00001");
    expect(simulatedHostname("eu", 199_999, 200_000)).toBe("sim-eu-200000");
    const hello = simulatedHello({ prefix: "eu", index: 4, total: 10, labels: parseLabelsSpec("team=net"), strata: parseStrataSpec(DEFAULT_STRATA_SPEC) });
    expect(AgentHelloSchema.parse(hello)).toEqual(hello);
    expect(hello.hostname).toBe("sim-eu-00005");
    expect(hello.userLabels).toEqual({ team: "net" });
    expect(hello.hostLabels).toMatchObject({ "probepilot.io/hostname": "sim-eu-00005", "probepilot.io/kernel": hello.kernel, "probepilot.io/arch": hello.arch, "probepilot.io/os": hello.os, "probepilot.io/simulated": "true" });
    expect(hello.capabilities.btf).toBe(true);
  });

  it("spreads a fleet over the default strata by their weights", () => {
    const strata = parseStrataSpec(DEFAULT_STRATA_SPEC);
    const hellos = Array.from({ length: 1000 }, (_, index) => simulatedHello({ prefix: "x", index, total: 1000, labels: [], strata }));
    expect(Math.abs(count(hellos, (h) => h.arch === "arm64") - 100)).toBeLessThanOrEqual(2);
    expect(Math.abs(count(hellos, (h) => h.os === "ubuntu-22.04") - 200)).toBeLessThanOrEqual(2);
  });
});

describe("simulate flags", () => {
  it("parses a full command line with defaults", () => {
    const env = parseSimulateEnv(["--agents", "200", "--labels", "env=prod|staging", "--fail", "tcp_flows@v2=30%", "--data-dir", "/tmp/x", "--ops-port", "off", "--creds", "/tmp/sim.creds"], { NATS_URL: "tls://n:4222", PROBEPILOT_ENROLL_TOKEN: "ppe_x", PROBEPILOT_CA_FILE: "/tmp/ca.pem" });
    expect(env).toMatchObject({ agents: 200, connections: null, natsUrl: "tls://n:4222", credsFile: "/tmp/sim.creds", controlPlaneUrl: "http://127.0.0.1:7070", caFile: "/tmp/ca.pem", enrollToken: "ppe_x", dataDir: "/tmp/x", namePrefix: "fleet", heartbeatSec: 30, enrollConcurrency: 100, startDelayMs: { min: 20, max: 100 }, opsPort: null, logLevel: "info", agentLogLevel: "silent" });
    expect(env.labels).toHaveLength(1);
    expect(env.strata).toHaveLength(3);
    expect(env.fail[0]!.text).toBe("tcp_flows@v2=30%");
  });

  it("lists every problem, each named by its flag", () => {
    let message = "";
    try {
      parseSimulateEnv(["--labels", "env", "--connections", "0", "--heartbeat-sec=-1", "--name-prefix", "Bad_Prefix", "--start-delay-ms", "100-20"], {});
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/^invalid simulate arguments: /);
    expect(message).toContain('--labels "env": pair 1 "env": expected key=value');
    expect(message).toContain("--agents: required");
    expect(message).toContain("--creds: required: the tenant's simulator credentials");
    expect(message).toContain("--connections: expected at least 1");
    expect(message).toContain("--heartbeat-sec: expected more than 0 seconds");
    expect(message).toContain("--name-prefix: expected 1 to 40 lower-case letters");
    expect(message).toContain("--start-delay-ms: MIN must not exceed MAX");
    expect(() => parseSimulateEnv(["--agents", "50001", "--creds", "c"], {})).toThrow("--agents: expected at most 50000");
    expect(() => parseSimulateEnv(["--agents", "10", "--connections", "11", "--creds", "c"], {})).toThrow("--connections: expected at most one connection per agent");
    expect(() => parseSimulateEnv(["--agents", "10", "--creds", "c", "--control-plane", "probepilot:7070"], {})).toThrow("--control-plane: expected an http:// or https:// URL");
    expect(() => parseSimulateEnv(["--agents", "10", "--bogus"], {})).toThrow(/invalid simulate arguments: Unknown option '--bogus'/);
  });
});
