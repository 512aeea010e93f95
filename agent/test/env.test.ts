import { describe, expect, it } from "vitest";
import { DEFAULT_PROBE_KINDS } from "@probepilot/shared";
import { parseAgentEnv } from "../src/env.ts";

describe("agent configuration", () => {
  it("has working defaults", () => {
    const env = parseAgentEnv([], {});
    expect(env).toMatchObject({ natsUrl: "nats://127.0.0.1:4222", dataDir: "/var/lib/probepilot-agent", heartbeatSec: 10, httpAddr: "127.0.0.1:7071", defaultProbes: [...DEFAULT_PROBE_KINDS], labels: {}, bpfDir: null });
    expect(env.enrollToken).toBeUndefined();
  });

  it("flags win over environment variables", () => {
    const env = parseAgentEnv(["--nats", "nats://flag:4222", "--heartbeat", "2"], { NATS_URL: "nats://env:4222", PROBEPILOT_HEARTBEAT_SEC: "30" });
    expect(env.natsUrl).toBe("nats://flag:4222");
    expect(env.heartbeatSec).toBe(2);
  });

  it("merges labels from the environment and repeated --label flags (flags last)", () => {
    const env = parseAgentEnv(["--label", "team=core", "--label", "env=staging"], { PROBEPILOT_AGENT_LABELS: "env=prod, region=eu" });
    expect(env.labels).toEqual({ env: "staging", region: "eu", team: "core" });
  });

  it("refuses more labels than a label set holds at start, not at enrollment", () => {
    const flags = Array.from({ length: 129 }, (_, i) => ["--label", `k${i}=v`]).flat();
    expect(() => parseAgentEnv(flags, {})).toThrow("invalid agent configuration: labels: at most 128 labels in one label set (129 given)");
    expect(Object.keys(parseAgentEnv(flags.slice(2), {}).labels)).toHaveLength(128);
  });

  it("--http off and --default-probes none", () => {
    const env = parseAgentEnv(["--http", "off", "--default-probes", "none"], {});
    expect(env.httpAddr).toBeNull();
    expect(env.defaultProbes).toEqual([]);
  });

  it("--default-probes takes a comma-separated list of known probe kinds", () => {
    expect(parseAgentEnv(["--default-probes", "host, tcp_flows"], {}).defaultProbes).toEqual(["host", "tcp_flows"]);
    expect(parseAgentEnv([], { PROBEPILOT_DEFAULT_PROBES: "oom_kills" }).defaultProbes).toEqual(["oom_kills"]);
  });

  it("\"defaults\" in --default-probes stands for the default set, and can be extended", () => {
    const kinds = parseAgentEnv(["--default-probes", "defaults,file_open,host"], {}).defaultProbes;
    expect(kinds).toEqual([...DEFAULT_PROBE_KINDS, "file_open"]);
    expect(kinds).not.toContain("syscall_counts");
  });

  it("--bpf-dir over PROBEPILOT_BPF_DIR", () => {
    expect(parseAgentEnv(["--bpf-dir", "/opt/pp/bpf"], { PROBEPILOT_BPF_DIR: "/x" }).bpfDir).toBe("/opt/pp/bpf");
    expect(parseAgentEnv([], { PROBEPILOT_BPF_DIR: "/x" }).bpfDir).toBe("/x");
  });

  it("--spool-max-bytes takes bytes or a binary unit, defaults to 512MiB, flag over environment", () => {
    expect(parseAgentEnv([], {}).spoolMaxBytes).toBe(512 * 1024 ** 2);
    expect(parseAgentEnv(["--spool-max-bytes", "8388608"], {}).spoolMaxBytes).toBe(8 * 1024 ** 2);
    expect(parseAgentEnv(["--spool-max-bytes", "64MiB"], { PROBEPILOT_SPOOL_MAX_BYTES: "1G" }).spoolMaxBytes).toBe(64 * 1024 ** 2);
    expect(parseAgentEnv([], { PROBEPILOT_SPOOL_MAX_BYTES: "2g" }).spoolMaxBytes).toBe(2 * 1024 ** 3);
    expect(parseAgentEnv([], { PROBEPILOT_SPOOL_MAX_BYTES: "4096k" }).spoolMaxBytes).toBe(4 * 1024 ** 2);
  });

  it("PROBEPILOT_EXIT_WITH_PARENT: 1 = the parent, a pid = that parent, 0 or unset = off; anything else is refused", () => {
    expect(parseAgentEnv([], {}).exitWithParent).toBeNull();
    expect(parseAgentEnv([], { PROBEPILOT_EXIT_WITH_PARENT: "0" }).exitWithParent).toBeNull();
    expect(parseAgentEnv([], { PROBEPILOT_EXIT_WITH_PARENT: "" }).exitWithParent).toBeNull();
    expect(parseAgentEnv([], { PROBEPILOT_EXIT_WITH_PARENT: "1" }).exitWithParent).toBe("parent");
    expect(parseAgentEnv([], { PROBEPILOT_EXIT_WITH_PARENT: "4242" }).exitWithParent).toBe(4242);
    for (const bad of ["yes", "-3", "07"]) expect(() => parseAgentEnv([], { PROBEPILOT_EXIT_WITH_PARENT: bad })).toThrow(/PROBEPILOT_EXIT_WITH_PARENT: expected "1" \(the parent process\), a parent pid, or "0" \(off\)/);
  });

  it("rejects an unknown default probe kind, naming it and listing the valid ones", () => {
    const parse = () => parseAgentEnv(["--default-probes", "host,tcp_flow"], {});
    expect(parse).toThrow(/defaultProbes\.1: unknown probe kind "tcp_flow"; expected one of host, tcp_flows, tcp_connect_latency,/);
    expect(parse).toThrow(/syscall_counts, "defaults" \(host, tcp_flows, .*\), or "none" alone for no probes/);
    expect(() => parseAgentEnv([], { PROBEPILOT_DEFAULT_PROBES: "none,host" })).toThrow(/unknown probe kind "none"/);
  });

  it.each([
    [["--label", "Bad Key=v"], /label key "Bad Key"/],
    [["--label", "novalue"], /expected key=value/],
    [["--heartbeat", "soon"], /heartbeatSec/],
    [["--http", "7071"], /expected host:port/],
    [["--nats"], /--nats/],
    [["--frobnicate"], /frobnicate/],
    [["--default-probes", "bogus"], /unknown probe kind "bogus"/],
    [["--spool-max-bytes", "lots"], /spoolMaxBytes: expected a byte count such as 536870912, 512MiB or 2GiB/],
    [["--spool-max-bytes", "12 parsecs"], /spoolMaxBytes: expected a byte count/],
    [["--spool-max-bytes", "1MiB"], /spoolMaxBytes: must be at least 4MiB \(4194304 bytes\)/],
  ])("rejects %j with a message naming the problem", (argv, message) => {
    expect(() => parseAgentEnv(argv as string[], {})).toThrow(message);
  });
});
