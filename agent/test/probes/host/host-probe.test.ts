import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, unlink, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import fc from "fast-check";
import type { MetricSeries } from "@probepilot/shared";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import {
  HOST_PROBE_OUTPUTS,
  HostProbe,
  HostProbeReadError,
  cpuUtilization,
  type HostProbeOutput,
  nextTick,
  uniqueLabelValues,
} from "../../../src/probes/host/host-probe.ts";

const K8S_LABEL_KEY = /^(?:[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const K8S_LABEL_VALUE = /^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves once `pred()` holds, polling; fails after `timeoutMs`. */
async function waitFor(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** Finds the value of the one series of `metric` whose labels include `labels`. */
function value(snapshot: MetricSeries[], metric: string, labels: Record<string, string> = {}): number {
  const hits = snapshot.filter((s) => s.metric === metric && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (hits.length !== 1) throw new Error(`expected one ${metric}${JSON.stringify(labels)}, found ${hits.length}`);
  return hits[0]!.points[0]![1];
}

function loCounters(): { rxBytes: number; txBytes: number; rxPackets: number; txPackets: number } {
  const line = readFileSync("/proc/net/dev", "utf8")
    .split("\n")
    .find((l) => l.trim().startsWith("lo:"))!;
  const v = line.split(":")[1]!.trim().split(/\s+/).map(Number);
  return { rxBytes: v[0]!, rxPackets: v[1]!, txBytes: v[8]!, txPackets: v[9]! };
}

/** Sends `bytes` through a TCP connection on 127.0.0.1 and resolves once the server has read them all. */
async function loopbackTraffic(bytes: number): Promise<void> {
  let received = 0;
  let done!: () => void;
  const allIn = new Promise<void>((r) => (done = r));
  const server = net.createServer((sock) => {
    sock.on("data", (chunk) => {
      received += chunk.length;
      if (received >= bytes) done();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as net.AddressInfo;
  const client = net.connect(port, "127.0.0.1");
  client.write(Buffer.alloc(bytes, 7));
  await allIn;
  client.destroy();
  await new Promise<void>((r) => server.close(() => r()));
}

const probes: HostProbe[] = [];
afterEach(async () => {
  await Promise.all(probes.splice(0).map((p) => p.close()));
});

describe("HostProbe on the live /proc", () => {
  it("emits consistent snapshots every 200 ms and stops on close()", async () => {
    const snapshots: MetricSeries[][] = [];
    const errors: unknown[] = [];
    const loBefore = loCounters();
    const memTotalKiB = Number(/^MemTotal:\s+(\d+) kB$/m.exec(readFileSync("/proc/meminfo", "utf8"))![1]);
    const probe = new HostProbe({ intervalMs: 200, onSeries: (s) => snapshots.push(s), onError: (e) => errors.push(e) });
    probes.push(probe);
    await probe.start();

    await waitFor(() => snapshots.length >= 1, 2000, "the first snapshot");
    // Push known traffic through lo between the first and the last snapshot.
    const TRAFFIC = 256 * 1024;
    await loopbackTraffic(TRAFFIC);
    const seen = snapshots.length;
    await waitFor(() => snapshots.length >= Math.max(3, seen + 1), 3000, "three snapshots");
    const loAfter = loCounters();
    await probe.close();
    const countAtClose = snapshots.length;

    expect(errors).toEqual([]);
    expect(probe.stats).toEqual({ snapshots: countAtClose, errors: 0 });

    const catalog = new Map<string, HostProbeOutput>(HOST_PROBE_OUTPUTS.map((o) => [o.metric, o]));
    let prevAt = 0;
    for (const snap of snapshots) {
      const at = snap[0]!.points[0]![0];
      expect(at).toBeGreaterThan(prevAt);
      prevAt = at;

      // CPU: ratios in [0, 1] and the modes sum to 1.
      const modes = snap.filter((s) => s.metric === "host_cpu_utilization");
      expect(modes.map((s) => s.labels.mode).sort()).toEqual(["idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user"]);
      let sum = 0;
      for (const s of modes) {
        const v = s.points[0]![1];
        expect(v).toBeGreaterThanOrEqual(0);
        expect(v).toBeLessThanOrEqual(1);
        sum += v;
      }
      expect(Math.abs(sum - 1)).toBeLessThanOrEqual(0.02);
      const busy = value(snap, "host_cpu_utilization_total");
      expect(busy).toBeGreaterThanOrEqual(0);
      expect(busy).toBeLessThanOrEqual(1);
      expect(busy).toBeCloseTo(1 - value(snap, "host_cpu_utilization", { mode: "idle" }) - value(snap, "host_cpu_utilization", { mode: "iowait" }), 9);

      // Memory total is exact.
      expect(value(snap, "host_memory_bytes", { state: "total" })).toBe(memTotalKiB * 1024);

      // lo counters lie between the reads taken before start and after the last snapshot.
      const lo = { interface: "lo" };
      for (const [metric, key] of [
        ["host_network_receive_bytes_total", "rxBytes"],
        ["host_network_transmit_bytes_total", "txBytes"],
        ["host_network_receive_packets_total", "rxPackets"],
        ["host_network_transmit_packets_total", "txPackets"],
      ] as const) {
        const v = value(snap, metric, lo);
        expect(v, metric).toBeGreaterThanOrEqual(loBefore[key]);
        expect(v, metric).toBeLessThanOrEqual(loAfter[key]);
      }

      // Every series is described by the catalog and carries valid labels.
      for (const s of snap) {
        const def = catalog.get(s.metric);
        expect(def, s.metric).toBeDefined();
        expect(s.kind).toBe(def!.kind);
        expect(s.unit).toBe(def!.unit);
        expect(Object.keys(s.labels).sort()).toEqual([...def!.labels].sort());
        for (const [k, v] of Object.entries(s.labels)) {
          expect(k).toMatch(K8S_LABEL_KEY);
          expect(v.length).toBeLessThanOrEqual(63);
          expect(v).toMatch(K8S_LABEL_VALUE);
        }
        expect(s.points).toHaveLength(1);
        expect(Number.isFinite(s.points[0]![1])).toBe(true);
        expect(Number.isInteger(s.points[0]![0])).toBe(true);
      }
    }
    // This host has disks and interfaces, so every documented metric shows up.
    const last = snapshots.at(-1)!;
    expect(new Set(last.map((s) => s.metric))).toEqual(new Set(catalog.keys()));

    // The 256 KiB we pushed through lo is in the counters (both directions of lo count it).
    const first = snapshots[0]!;
    expect(value(last, "host_network_receive_bytes_total", { interface: "lo" }) - value(first, "host_network_receive_bytes_total", { interface: "lo" })).toBeGreaterThanOrEqual(TRAFFIC);

    // close(): nothing more arrives.
    await sleep(700);
    expect(snapshots.length).toBe(countAtClose);
  });

  it("close() clears its timer", async () => {
    // Fake setTimeout/clearTimeout count only the timers created while they are installed, i.e. this
    // probe's (a count of the process's Timeouts also sees other timers on this busy worker).
    // The clock the probe schedules by (performance.now) and its /proc reads stay real.
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    let snapshots = 0;
    const probe = new HostProbe({ intervalMs: 1000, onSeries: () => snapshots++ });
    probes.push(probe);
    try {
      await probe.start();
      expect(vi.getTimerCount()).toBe(1);
      // Run the first tick: it emits and schedules the next one.
      await vi.advanceTimersByTimeAsync(1000);
      await vi.waitFor(() => expect(snapshots).toBe(1), { timeout: 5000 });
      await vi.waitFor(() => expect(vi.getTimerCount()).toBe(1), { timeout: 5000 });
      await probe.close();
      expect(vi.getTimerCount()).toBe(0);
      // Nothing left to fire: an hour later there is still only the one snapshot.
      await vi.advanceTimersByTimeAsync(3_600_000);
      expect(snapshots).toBe(1);
      expect(probe.stats).toEqual({ snapshots: 1, errors: 0 });
    } finally {
      vi.useRealTimers();
    }
    await expect(probe.start()).rejects.toThrow("start() called after close()");
  });

  it("close() while a snapshot is being read suppresses that snapshot", async () => {
    // Close at varying points of the read cycle (5 ms interval, 0–38 ms of waiting), so
    // some closes land while the files are being read and some after snapshots went out.
    let total = 0;
    for (let i = 0; i < 20; i++) {
      let n = 0;
      const p = new HostProbe({ intervalMs: 5, onSeries: () => (n++, total++) });
      probes.push(p);
      await p.start();
      await sleep(i * 2);
      const closing = p.close();
      const atClose = n;
      await closing;
      await sleep(15);
      expect(n).toBe(atClose);
    }
    expect(total).toBeGreaterThan(0); // some closes did land after snapshots
  });
});

/** A fixture procfs/sysfs tree the probe can run on. */
async function fixtureRoots(): Promise<{ procRoot: string; sysRoot: string; writeStat: (cpu: number[]) => Promise<void> }> {
  const root = await mkdtemp(path.join(os.tmpdir(), "pp-host-probe-"));
  const procRoot = path.join(root, "proc");
  const sysRoot = path.join(root, "sys");
  await mkdir(path.join(procRoot, "net"), { recursive: true });
  for (const dev of ["sda", "cciss!c0d0", "loop0"]) await mkdir(path.join(sysRoot, "block", dev), { recursive: true });
  const writeStat = (cpu: number[]): Promise<void> => writeFile(path.join(procRoot, "stat"), `cpu  ${cpu.join(" ")} 0 0\ncpu0 ${cpu.join(" ")} 0 0\nctxt 1\n`);
  await writeStat([100, 0, 100, 800, 0, 0, 0, 0]);
  await writeFile(
    path.join(procRoot, "meminfo"),
    "MemTotal: 1000 kB\nMemFree: 400 kB\nMemAvailable: 600 kB\nBuffers: 50 kB\nCached: 100 kB\nSwapTotal: 200 kB\nSwapFree: 150 kB\n",
  );
  await writeFile(
    path.join(procRoot, "diskstats"),
    [
      "   8 0 sda 10 0 20 0 30 0 40 0 0 1500 0",
      "   8 1 sda1 10 0 20 0 30 0 40 0 0 1500 0",
      "   7 0 loop0 0 0 0 0 0 0 0 0 0 0 0",
      " 104 0 cciss/c0d0 1 0 2 0 3 0 4 0 0 5 0",
      "",
    ].join("\n"),
  );
  await writeFile(
    path.join(procRoot, "net/dev"),
    "Inter-| Receive | Transmit\n face |bytes packets|bytes packets\n  eth0: 1000 10 1 2 0 0 0 0 2000 20 3 4 0 0 0 0\nbr@x: 5 1 0 0 0 0 0 0 6 1 0 0 0 0 0 0\n",
  );
  await writeFile(path.join(procRoot, "loadavg"), "1.50 0.75 0.25 3/200 999\n");
  return { procRoot, sysRoot, writeStat };
}

describe("HostProbe on fixture roots", () => {
  const roots: string[] = [];
  afterAll(async () => {
    await Promise.all(roots.map((r) => rm(r, { recursive: true, force: true })));
  });

  it("computes every metric exactly from the files", async () => {
    const f = await fixtureRoots();
    roots.push(path.dirname(f.procRoot));
    const snaps: MetricSeries[][] = [];
    const probe = new HostProbe({ intervalMs: 50, onSeries: (s) => snaps.push(s), now: () => 1_700_000_000_123.4, procRoot: f.procRoot, sysRoot: f.sysRoot });
    probes.push(probe);
    await probe.start(); // baseline: user 100, system 100, idle 800
    await f.writeStat([130, 10, 110, 840, 10, 0, 0, 0]); // +30 user +10 nice +10 system +40 idle +10 iowait = 100 ticks
    await waitFor(() => snaps.length >= 1, 2000, "a snapshot");
    await probe.close();
    const s = snaps[0]!;

    expect(s.every((x) => x.points[0]![0] === 1_700_000_000_123)).toBe(true);
    expect(value(s, "host_cpu_utilization", { mode: "user" })).toBeCloseTo(0.3, 12);
    expect(value(s, "host_cpu_utilization", { mode: "nice" })).toBeCloseTo(0.1, 12);
    expect(value(s, "host_cpu_utilization", { mode: "system" })).toBeCloseTo(0.1, 12);
    expect(value(s, "host_cpu_utilization", { mode: "idle" })).toBeCloseTo(0.4, 12);
    expect(value(s, "host_cpu_utilization", { mode: "iowait" })).toBeCloseTo(0.1, 12);
    expect(value(s, "host_cpu_utilization", { mode: "steal" })).toBe(0);
    expect(value(s, "host_cpu_utilization_total")).toBeCloseTo(0.5, 12);
    expect(value(s, "host_cpu_seconds_total", { mode: "user" })).toBeCloseTo(1.3, 12); // 130 jiffies / USER_HZ
    expect(value(s, "host_cpu_seconds_total", { mode: "idle" })).toBeCloseTo(8.4, 12);

    expect(value(s, "host_memory_bytes", { state: "total" })).toBe(1000 * 1024);
    expect(value(s, "host_memory_bytes", { state: "used" })).toBe(400 * 1024);
    expect(value(s, "host_memory_bytes", { state: "cached" })).toBe(100 * 1024);
    expect(value(s, "host_swap_bytes", { state: "used" })).toBe(50 * 1024);
    expect(value(s, "host_load1")).toBe(1.5);
    expect(value(s, "host_load15")).toBe(0.25);

    // sda1 is a partition (not in /sys/block), loop0 idle: both left out. cciss/c0d0 is sanitized.
    const devices = [...new Set(s.filter((x) => x.labels.device !== undefined).map((x) => x.labels.device))].sort();
    expect(devices).toEqual(["cciss_c0d0", "sda"]);
    expect(value(s, "host_disk_read_bytes_total", { device: "sda" })).toBe(20 * 512);
    expect(value(s, "host_disk_written_bytes_total", { device: "sda" })).toBe(40 * 512);
    expect(value(s, "host_disk_reads_total", { device: "sda" })).toBe(10);
    expect(value(s, "host_disk_writes_total", { device: "sda" })).toBe(30);
    expect(value(s, "host_disk_io_time_seconds_total", { device: "sda" })).toBe(1.5);

    expect(value(s, "host_network_receive_bytes_total", { interface: "eth0" })).toBe(1000);
    expect(value(s, "host_network_transmit_packets_total", { interface: "eth0" })).toBe(20);
    expect(value(s, "host_network_receive_errors_total", { interface: "eth0" })).toBe(1);
    expect(value(s, "host_network_transmit_errors_total", { interface: "eth0" })).toBe(3);
    expect(value(s, "host_network_receive_drops_total", { interface: "eth0" })).toBe(2);
    expect(value(s, "host_network_transmit_bytes_total", { interface: "br_x" })).toBe(6);
  });

  it("reports a failing file through onError and still emits the rest", async () => {
    const f = await fixtureRoots();
    roots.push(path.dirname(f.procRoot));
    await unlink(path.join(f.procRoot, "meminfo"));
    await writeFile(path.join(f.procRoot, "loadavg"), "garbage\n");
    const snaps: MetricSeries[][] = [];
    const errors: HostProbeReadError[] = [];
    const probe = new HostProbe({ intervalMs: 30, onSeries: (s) => snaps.push(s), onError: (e) => errors.push(e), procRoot: f.procRoot, sysRoot: f.sysRoot });
    probes.push(probe);
    await probe.start();
    await f.writeStat([110, 0, 100, 890, 0, 0, 0, 0]);
    await waitFor(() => snaps.length >= 2, 2000, "two snapshots");
    await probe.close();

    const metrics = new Set(snaps[0]!.map((s) => s.metric));
    expect(metrics.has("host_memory_bytes")).toBe(false);
    expect(metrics.has("host_load1")).toBe(false);
    expect(metrics.has("host_cpu_utilization")).toBe(true);
    expect(metrics.has("host_disk_reads_total")).toBe(true);
    expect(metrics.has("host_network_receive_bytes_total")).toBe(true);

    const sources = new Set(errors.map((e) => e.source));
    expect(sources).toEqual(new Set(["meminfo", "loadavg"]));
    const memErr = errors.find((e) => e.source === "meminfo")!;
    expect(memErr).toBeInstanceOf(HostProbeReadError);
    expect(memErr.name).toBe("HostProbeReadError");
    expect(memErr.message).toContain(path.join(f.procRoot, "meminfo"));
    expect((memErr.cause as NodeJS.ErrnoException).code).toBe("ENOENT");
    expect(errors.find((e) => e.source === "loadavg")!.message).toContain("malformed content");
    expect(probe.stats.errors).toBe(errors.length);
  });

  it("survives an onSeries callback that throws", async () => {
    const f = await fixtureRoots();
    roots.push(path.dirname(f.procRoot));
    let calls = 0;
    const errors: HostProbeReadError[] = [];
    const probe = new HostProbe({
      intervalMs: 20,
      onSeries: () => {
        calls++;
        throw new Error("consumer bug");
      },
      onError: (e) => errors.push(e),
      procRoot: f.procRoot,
      sysRoot: f.sysRoot,
    });
    probes.push(probe);
    await probe.start();
    await waitFor(() => calls >= 3, 2000, "three callbacks");
    await probe.close();
    expect(errors.length).toBeGreaterThanOrEqual(3);
    expect(errors[0]!.source).toBe("onSeries");
    expect(errors[0]!.message).toBe("host probe: onSeries callback threw: consumer bug");
  });

  it("rejects a non-positive interval", () => {
    expect(() => new HostProbe({ intervalMs: 0, onSeries: () => {} })).toThrow(RangeError);
  });
});

describe("nextTick", () => {
  it("schedules relative to the start so lateness does not accumulate", () => {
    expect(nextTick(1000, 100, 1000, 0)).toEqual({ index: 1, delayMs: 100 });
    // Tick 1 ran 7 ms late and took 3 ms: tick 2 is still due at start + 200.
    expect(nextTick(1000, 100, 1110, 1)).toEqual({ index: 2, delayMs: 90 });
    // Event loop blocked past slots 2 and 3: skip them instead of bursting.
    expect(nextTick(1000, 100, 1350, 1)).toEqual({ index: 4, delayMs: 50 });
    // A timer that fired 0.5 ms early must not run slot 1 twice.
    expect(nextTick(1000, 100, 1099.5, 1)).toEqual({ index: 2, delayMs: 100.5 });
  });
});

describe("cpuUtilization", () => {
  const t = (user: number, idle: number, iowait = 0) => ({ user, nice: 0, system: 0, idle, iowait, irq: 0, softirq: 0, steal: 0 });

  it("clamps a mode that went backwards and returns undefined when no tick passed", () => {
    const u = cpuUtilization(t(100, 100, 50), t(150, 150, 40))!;
    expect(u.user).toBe(0.5);
    expect(u.idle).toBe(0.5);
    expect(u.iowait).toBe(0);
    expect(cpuUtilization(t(1, 1), t(1, 1))).toBeUndefined();
  });

  it("yields ratios in [0, 1] summing to 1 for any pair of samples (property)", () => {
    const times = fc.record({
      user: fc.nat(1e9),
      nice: fc.nat(1e9),
      system: fc.nat(1e9),
      idle: fc.nat(1e9),
      iowait: fc.nat(1e9),
      irq: fc.nat(1e9),
      softirq: fc.nat(1e9),
      steal: fc.nat(1e9),
    });
    fc.assert(
      fc.property(times, times, (a, b) => {
        const u = cpuUtilization(a, b);
        if (u === undefined) return;
        const values = Object.values(u);
        for (const v of values) expect(v >= 0 && v <= 1).toBe(true);
        expect(Math.abs(values.reduce((x, y) => x + y, 0) - 1)).toBeLessThan(1e-9);
      }),
    );
  });
});

describe("uniqueLabelValues", () => {
  it("sanitizes and disambiguates names that collide after sanitizing", () => {
    const m = uniqueLabelValues(["a/b", "a_b", "a:b", "eth0", "-", "x".repeat(70), `${"x".repeat(70)}y`]);
    expect(m.get("a/b")).toBe("a_b");
    expect(m.get("a_b")).toBe("a_b_2");
    expect(m.get("a:b")).toBe("a_b_3");
    expect(m.get("eth0")).toBe("eth0");
    expect(m.get("-")).toBe("unnamed");
    expect(m.get("x".repeat(70))).toBe("x".repeat(63));
    expect(m.get(`${"x".repeat(70)}y`)).toBe(`${"x".repeat(61)}_2`);
    expect(new Set(m.values()).size).toBe(m.size);
  });
});
