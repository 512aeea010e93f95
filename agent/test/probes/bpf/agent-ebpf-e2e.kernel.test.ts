import { afterAll, beforeAll, expect, it } from "vitest";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { DEFAULT_PROBE_KINDS, type ProbeStatus } from "@probepilot/shared";
import { startHarness, type Harness } from "@probepilot/testkit/control-plane-harness";
import { captureCli } from "@probepilot/testkit/run-cli";
import { freePort } from "@probepilot/control-plane/stack/tcp";
import { DEFAULT_BPF_DIR } from "../../../src/probes/bpf/bpf-catalog.ts";
import { waitFor } from "@probepilot/testkit/poll";
import { describeKernel } from "./support/probe-harness.ts";
import { AGENT_BIN } from "@probepilot/testkit/bins";

/**
 * The "done when", end to end: a real agent process running every
 * default probe on this kernel, its telemetry through NATS and the ingester
 * into Postgres, read back with `probepilot query` and telemetry.events /
 * telemetry.profile / telemetry.histogram; and the agent surviving a probe
 * whose loader is killed.
 */
const BUSY = path.join(process.env.PROBEPILOT_BPF_DIR ?? DEFAULT_BPF_DIR, "testprogs", "busy");

let h: Harness;
let dataDir: string;
let agent: ChildProcess;
let agentId: string;
let output = "";
const startedAt = Date.now();

beforeAll(async () => {
  h = await startHarness();
  dataDir = await mkdtemp(path.join(tmpdir(), "pp-ebpf-e2e-"));
  const { token } = await h.client().enrollTokens.create.mutate({});
  const httpPort = await freePort();
  agent = spawn(process.execPath, [AGENT_BIN, ...h.agentArgs, "--data-dir", dataDir, "--enroll-token", token, "--http", `127.0.0.1:${httpPort}`, "--label", "env=ebpf-e2e", "--heartbeat", "1"], { stdio: ["ignore", "pipe", "pipe"] });
  agent.stdout!.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  agent.stderr!.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  const online = await waitFor(async () => (await h.client().agents.list.query({})).items.find((a) => a.status === "online"), { what: "the agent online", timeoutMs: 30_000, debug: () => output });
  agentId = online.id;
}, 60_000);

afterAll(async () => {
  if (agent && agent.exitCode === null) {
    agent.kill("SIGTERM");
    await new Promise((r) => agent.once("exit", r));
  }
  await h?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

const cli = (args: string[]) => captureCli(args, { PROBEPILOT_URL: h.cp.url, PROBEPILOT_TOKEN: h.adminToken, XDG_CONFIG_HOME: dataDir });

const probes = async (): Promise<ProbeStatus[]> => (await h.client().agents.get.query({ id: agentId })).probes;
const range = () => ({ from: startedAt - 60_000, to: Date.now() + 60_000 });

describeKernel("an agent running every default probe, end to end", () => {
  it("runs every default probe, each reporting its cost", async () => {
    const all = await waitFor(
      async () => {
        const p = await probes();
        return DEFAULT_PROBE_KINDS.every((k) => p.some((s) => s.kind === k && s.state === "running" && (k === "host" || s.cost))) ? p : undefined;
      },
      { what: "every default probe running with a cost", timeoutMs: 30_000, debug: () => `${output}\n${JSON.stringify(h ? "" : "")}` },
    );
    for (const status of all.filter((s) => s.kind !== "host")) {
      expect(status.cost!.loaderRssBytes, `${status.kind} loader RSS`).toBeGreaterThan(100_000);
      expect(status.cost!.kernelCpuPercent, `${status.kind} kernel CPU`).toBeLessThan(50);
    }
  });

  it("probepilot query shows the probes' cost series", async () => {
    const r = await waitFor(async () => {
      const q = await cli(["query", "probepilot_probe_loader_rss_bytes", "--by", "probe", "--since", "5m", "--step", "10s", "--agg", "max", "--json"]);
      const json = q.code === 0 ? JSON.parse(q.stdout) : undefined;
      return json && json.series.length >= DEFAULT_PROBE_KINDS.length - 1 ? json : undefined;
    }, { what: "loader RSS series for every eBPF probe", timeoutMs: 30_000 });
    const kinds = r.series.map((s: { labels: Record<string, string> }) => s.labels.probe).sort();
    expect(kinds).toEqual(DEFAULT_PROBE_KINDS.filter((k) => k !== "host").sort());
  });

  it("telemetry.events has an exec (with its arguments) and the TCP flow it made, seen by the agent's probes", async () => {
    const marker = `pp-marker-${process.pid}-${Date.now()}`;
    execFileSync("/bin/true", [marker]);
    const server = net.createServer((s) => s.on("data", () => {}).on("end", () => s.end("pong")));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise<void>((resolve, reject) => {
      const c = net.connect(port, "127.0.0.1", () => c.end("x".repeat(4321)));
      c.on("data", () => {}).on("close", () => resolve()).on("error", reject);
    });
    server.close();
    const exec = await waitFor(async () => {
      const page = await h.client().telemetry.events.query({ ...range(), name: "process_exec", attrs: { filename: "/bin/true" }, limit: 500 });
      return page.items.find((e) => String(e.attrs.args).includes(marker));
    }, { what: "the process_exec event in Postgres", timeoutMs: 30_000, debug: () => output });
    expect(exec.attrs).toMatchObject({ args: `/bin/true ${marker}`, ppid: process.pid });
    const flow = await waitFor(async () => {
      const page = await h.client().telemetry.events.query({ ...range(), name: "tcp_flow", attrs: { dport: port }, limit: 100 });
      return page.items[0];
    }, { what: "the tcp_flow event in Postgres", timeoutMs: 30_000 });
    expect(flow.attrs).toMatchObject({ direction: "outbound", bytesSent: 4321, bytesReceived: 4, daddr: "127.0.0.1", pid: process.pid });
  });

  it("telemetry.histogram has run-queue latency, and telemetry.profile has the busy loop of a test program", async () => {
    const busy = spawn(BUSY, ["12"], { stdio: ["ignore", "pipe", "ignore"] });
    try {
      const hist = await waitFor(async () => {
        const r = await h.client().telemetry.histogram.query({ metric: "runqueue_latency", ...range(), stepMs: 60_000 });
        return r.count.reduce((a, b) => a + b, 0) > 0 ? r : undefined;
      }, { what: "runqueue_latency samples", timeoutMs: 30_000 });
      expect(hist.percentiles.find((p) => p.p === 50)!.values.some((v) => v !== null && v > 0)).toBe(true);
      // cpu_profile sends one profile per 10 s interval.
      const profile = await waitFor(async () => {
        const r = await h.client().telemetry.profile.query({ agentId, ...range(), pid: busy.pid! });
        return r.stacks.some((s) => s.stack.includes("probepilot_busy_loop")) ? r : undefined;
      }, { what: "a profile of the busy program", timeoutMs: 45_000, debug: () => output });
      const hot = profile.stacks.filter((s) => s.stack.includes("probepilot_busy_loop")).reduce((n, s) => n + s.count, 0);
      expect(hot / profile.total).toBeGreaterThan(0.8);
      expect(profile.stacks[0]!.stack.startsWith("busy;")).toBe(true);
    } finally {
      busy.kill("SIGKILL");
    }
  }, 90_000);

  it("survives a probe whose loader is killed: the probe is restarted and reported", async () => {
    const loader = Number(execFileSync("pgrep", ["-P", String(agent.pid), "-f", "process_exit.bpf.o"], { encoding: "utf8" }).trim());
    process.kill(loader, "SIGKILL");
    const restarted = await waitFor(async () => {
      const s = (await probes()).find((p) => p.kind === "process_exit");
      return s && s.state === "running" && (s.restarts ?? 0) >= 1 ? s : undefined;
    }, { what: "process_exit restarted", timeoutMs: 30_000, debug: () => output });
    expect(restarted.restarts).toBe(1);
    expect(agent.exitCode).toBeNull();
    expect((await probes()).filter((p) => p.state === "running").length).toBeGreaterThanOrEqual(DEFAULT_PROBE_KINDS.length);
  });
});
