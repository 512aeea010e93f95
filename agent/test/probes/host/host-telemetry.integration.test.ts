import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import type { NatsConnection } from "nats";
import type { MetricSeries, TelemetryBatch } from "@probepilot/shared";
import { startHarness, type Harness } from "@probepilot/testkit/control-plane-harness";
import { loadIdentity } from "../../../src/identity/identity-store.ts";
import { waitFor } from "@probepilot/testkit/poll";
import { TelemetryTap, tempDir } from "../../support/in-process-agent.ts";
import { AGENT_BIN } from "@probepilot/testkit/bins";

/**
 * The built-in `host` probe through the real publish path: a spawned
 * `probepilot-agent` with its defaults (host probe, 1 s interval) publishes to
 * PP_TELEMETRY; the test reads the stream and checks the values against /proc,
 * parsed here independently of the agent's own parsers.
 */


let h: Harness;
let ops: NatsConnection;
let dir: { dir: string; remove: () => Promise<void> };
let child: ChildProcess;
let output = "";
let tap: TelemetryTap;
let agentId: string;
let tenantId: string;

beforeAll(async () => {
  h = await startHarness();
  dir = await tempDir("pp-host-telemetry-");
  ops = await h.platformNats("pp-test-ops");
  const enrollToken = (await h.client().enrollTokens.create.mutate({ description: "host telemetry" })).token;
  child = spawn(process.execPath, [AGENT_BIN, ...h.agentArgs, "--default-probes", "host", "--data-dir", dir.dir, "--enroll-token", enrollToken, "--http", "off", "--heartbeat", "1"], { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  const stored = await waitFor(async () => {
    const loaded = await loadIdentity(dir.dir).catch(() => null); // the creds file may land a moment after identity.json
    return loaded && !loaded.legacy ? loaded : undefined;
  }, { what: "agent identity on disk", timeoutMs: 20_000, debug: () => output });
  ({ agentId, tenantId } = stored.identity);
  tap = await TelemetryTap.start(ops, tenantId, agentId, "host");
});

afterAll(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  }
  await tap?.stop();
  await ops?.close();
  await h?.stop();
  await dir?.remove();
});

async function meminfoKb(field: string): Promise<number> {
  const line = (await readFile("/proc/meminfo", "utf8")).split("\n").find((l) => l.startsWith(`${field}:`));
  if (!line) throw new Error(`no ${field} in /proc/meminfo`);
  return Number(line.split(/\s+/)[1]);
}

/** rx/tx bytes and packets of an interface from /proc/net/dev. */
async function netDev(iface: string): Promise<{ rxBytes: number; rxPackets: number; txBytes: number; txPackets: number }> {
  const line = (await readFile("/proc/net/dev", "utf8")).split("\n").find((l) => l.trim().startsWith(`${iface}:`));
  if (!line) throw new Error(`no ${iface} in /proc/net/dev`);
  const f = line.split(":")[1]!.trim().split(/\s+/).map(Number);
  return { rxBytes: f[0]!, rxPackets: f[1]!, txBytes: f[8]!, txPackets: f[9]! };
}

function value(batch: TelemetryBatch, metric: string, labels: Record<string, string> = {}): number {
  const s = find(batch.series, metric, labels);
  if (!s) throw new Error(`batch ${batch.seq} has no ${metric}${JSON.stringify(labels)}`);
  expect(s.points).toHaveLength(1);
  return s.points[0]![1];
}

function find(series: MetricSeries[], metric: string, labels: Record<string, string>): MetricSeries | undefined {
  return series.find((s) => s.metric === metric && Object.keys(labels).length === Object.keys(s.labels).length && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

describe("host probe telemetry on PP_TELEMETRY", () => {
  it("publishes batches in the v1 envelope, seq 0,1,2… without gaps, sentAt near now, in order at the 1 s default interval", async () => {
    const batches = await waitFor(async () => (tap.batches.length >= 5 ? tap.batches.slice(0, 5) : undefined), { what: "5 host batches", timeoutMs: 20_000, debug: () => output });
    for (const [i, b] of batches.entries()) {
      expect(b).toMatchObject({ v: 1, tenantId, agentId, probe: "host", probeVersion: "builtin", seq: i });
      expect(b.histograms).toEqual([]);
      expect(b.events).toEqual([]);
      // sentAt is the agent's clock when it published; this is the same host, so it is "now" at receipt, minus transit.
      const lag = tap.receivedAt[i]! - b.sentAt;
      expect(lag).toBeGreaterThanOrEqual(-50);
      expect(lag).toBeLessThan(2000);
      // Every point was taken just before the batch was sent.
      for (const s of b.series) for (const [at] of s.points) expect(b.sentAt - at).toBeGreaterThanOrEqual(0), expect(b.sentAt - at).toBeLessThan(1000);
    }
    // The default interval is 1 s. No timing means on this shared machine: batches go out in order, and
    // the span has a floor the scheduler guarantees (tick slots are start + k × interval, a timer never
    // fires before its slot and a late tick skips slots rather than bursting, so five batches use at
    // least slots k..k+4 and the first is sent before slot k+1: span ≥ 3 intervals, less clock slack).
    // Upper bounds are generous: they only show that batches keep coming.
    const gaps = batches.slice(1).map((b, i) => b.sentAt - batches[i]!.sentAt);
    for (const g of gaps) expect(g).toBeGreaterThan(0), expect(g).toBeLessThan(10_000);
    expect(batches[4]!.sentAt - batches[0]!.sentAt).toBeGreaterThan(3 * 1000 - 100);
  });

  it("reports total memory as MemTotal × 1024 from /proc/meminfo", async () => {
    const memTotalBytes = (await meminfoKb("MemTotal")) * 1024;
    const batch = await waitFor(async () => tap.batches.at(-1), { what: "a host batch", timeoutMs: 20_000 });
    expect(value(batch, "host_memory_bytes", { state: "total" })).toBe(memTotalBytes);
    expect(find(batch.series, "host_memory_bytes", { state: "total" })).toMatchObject({ kind: "gauge", unit: "bytes" });
    const free = value(batch, "host_memory_bytes", { state: "free" });
    expect(free).toBeGreaterThan(0);
    expect(free).toBeLessThanOrEqual(memTotalBytes);
    expect(free % 1024).toBe(0);
  });

  it("reports lo counters between /proc/net/dev read before and after the snapshot", async () => {
    const before = await netDev("lo");
    const t0 = Date.now();
    // A batch whose snapshot started after `before` was read (point time > t0).
    const batch = await waitFor(async () => tap.batches.find((b) => b.series.some((s) => s.metric === "host_network_receive_bytes_total" && s.points[0]![0] > t0)), { what: "a batch taken after the first read" });
    const after = await netDev("lo");
    const rx = value(batch, "host_network_receive_bytes_total", { interface: "lo" });
    const tx = value(batch, "host_network_transmit_bytes_total", { interface: "lo" });
    const rxp = value(batch, "host_network_receive_packets_total", { interface: "lo" });
    const txp = value(batch, "host_network_transmit_packets_total", { interface: "lo" });
    // NATS itself talks over lo, so the counters do move between the two reads.
    expect(after.rxBytes).toBeGreaterThan(before.rxBytes);
    expect(rx).toBeGreaterThanOrEqual(before.rxBytes);
    expect(rx).toBeLessThanOrEqual(after.rxBytes);
    expect(tx).toBeGreaterThanOrEqual(before.txBytes);
    expect(tx).toBeLessThanOrEqual(after.txBytes);
    expect(rxp).toBeGreaterThanOrEqual(before.rxPackets);
    expect(rxp).toBeLessThanOrEqual(after.rxPackets);
    expect(txp).toBeGreaterThanOrEqual(before.txPackets);
    expect(txp).toBeLessThanOrEqual(after.txPackets);
    expect(find(batch.series, "host_network_receive_bytes_total", { interface: "lo" })).toMatchObject({ kind: "counter", unit: "bytes" });
  });

  it("reports CPU utilization ratios in [0, 1] per mode, summing to 1, from the first batch on", async () => {
    await waitFor(async () => (tap.batches.length >= 5 ? true : undefined), { what: "5 host batches", timeoutMs: 20_000 });
    for (const b of tap.batches) {
      const perMode = b.series.filter((s) => s.metric === "host_cpu_utilization");
      expect(perMode.map((s) => s.labels.mode).sort()).toEqual(["idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user"]);
      let sum = 0;
      for (const s of perMode) {
        const v = s.points[0]![1];
        expect(v).toBeGreaterThanOrEqual(0);
        expect(v).toBeLessThanOrEqual(1);
        sum += v;
      }
      expect(sum).toBeCloseTo(1, 6);
      const total = value(b, "host_cpu_utilization_total");
      expect(total).toBeGreaterThanOrEqual(0);
      expect(total).toBeLessThanOrEqual(1);
    }
    // Cumulative CPU seconds never go backwards between batches (except idle/iowait, which NO_HZ kernels may rewind).
    const user = tap.batches.map((b) => value(b, "host_cpu_seconds_total", { mode: "user" }));
    for (let i = 1; i < user.length; i++) expect(user[i]!).toBeGreaterThanOrEqual(user[i - 1]!);
  });
});
