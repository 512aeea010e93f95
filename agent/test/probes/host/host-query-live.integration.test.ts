import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { startHarness, type Harness } from "@probepilot/testkit/control-plane-harness";
import { runCli } from "@probepilot/control-plane/cli/main";
import { waitFor } from "@probepilot/testkit/poll";
import { captureCli } from "@probepilot/testkit/run-cli";
import { AGENT_BIN } from "@probepilot/testkit/bins";

/**
 * The telemetry pipeline end to end, as the "done when" puts it: the host
 * probe of a running agent process, queried over a range and watched live through
 * the CLI (which uses the typed tRPC client: queries over HTTP, live over SSE).
 */

let h: Harness;
let dataDir: string;
let agent: ChildProcess;

beforeAll(async () => {
  h = await startHarness();
  dataDir = await mkdtemp(path.join(tmpdir(), "pp-host-query-"));
  const { token } = await h.client().enrollTokens.create.mutate({});
  agent = spawn(process.execPath, [AGENT_BIN, ...h.agentArgs, "--default-probes", "host", "--data-dir", dataDir, "--enroll-token", token, "--http", "off", "--label", "env=e2e"], { stdio: "ignore" });
});
afterAll(async () => {
  if (agent && agent.exitCode === null) agent.kill("SIGKILL");
  await h?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

const cli = (args: string[], signal?: AbortSignal) => captureCli(args, { PROBEPILOT_URL: h.cp.url, PROBEPILOT_TOKEN: h.adminToken, XDG_CONFIG_HOME: dataDir }, signal);

describe("the host probe, queried and watched through the CLI", () => {
  it("probepilot query returns the host's memory total over a range, equal to /proc/meminfo", async () => {
    const memTotalKb = Number((await readFile("/proc/meminfo", "utf8")).match(/^MemTotal:\s+(\d+) kB/m)![1]);
    const result = await waitFor(async () => {
      const r = await cli(["query", "host_memory_bytes", "--series-selector", "state=total", "--selector", "env=e2e", "--since", "1m", "--step", "1s", "--agg", "max", "--json"]);
      const json = r.code === 0 ? JSON.parse(r.stdout) : undefined;
      return json?.series?.[0]?.points.filter(([, v]: [number, number | null]) => v !== null).length >= 3 ? json : undefined;
    }, { what: "3 seconds of host_memory_bytes in Postgres", timeoutMs: 30_000 });
    const values = result.series[0].points.map(([, v]: [number, number | null]) => v).filter((v: number | null) => v !== null);
    expect(new Set(values)).toEqual(new Set([memTotalKb * 1024]));
    expect(result.tier).toBe("raw");
  });

  it("the human output has the summary and sparkline", async () => {
    const r = await cli(["query", "host_cpu_utilization", "--by", "mode", "--since", "1m", "--step", "5s"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/host_cpu_utilization avg by mode · step 5s · tier raw/);
    expect(r.stdout).toMatch(/mode=user/);
  });

  it("probepilot query --watch prints live updates until stopped", async () => {
    const stop = new AbortController();
    const lines: string[] = [];
    let stdout = "";
    const running = runCli(["query", "host_load1", "--since", "30s", "--step", "1s", "--watch"], {
      stdout: (s) => {
        stdout += s;
        lines.push(...s.split("\n").filter(Boolean));
      },
      stderr: (s) => (stdout += s),
      env: { PROBEPILOT_URL: h.cp.url, PROBEPILOT_TOKEN: h.adminToken, XDG_CONFIG_HOME: dataDir },
      signal: stop.signal,
    });
    // The agent publishes every second: at least three live lines arrive, each newer than the last.
    const updates = await waitFor(async () => {
      const u = lines.filter((l) => /^\d{4}-\d\d-\d\dT\S+\s+\(all\)\s+[\d.]+$/.test(l));
      return u.length >= 3 ? u : undefined;
    }, { what: "3 live lines", timeoutMs: 20_000, debug: () => stdout });
    expect(stdout).toMatch(/host_load1 avg · live · step 1s · Ctrl-C stops/);
    const times = updates.map((l) => Date.parse(l.split(/\s+/)[0]!));
    expect(times[times.length - 1]!).toBeGreaterThan(times[0]!);
    stop.abort();
    expect(await running).toBe(0);
  });
});
