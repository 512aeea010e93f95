import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import os from "node:os";
import { describe, expect, it } from "vitest";
import {
  CPU_MODES,
  ProcfsParseError,
  memoryUsedBytes,
  parseDiskstats,
  parseLoadavg,
  parseMeminfo,
  parseMeminfoFields,
  parseNetDev,
  parseProcStat,
  readDiskstats,
  readLoadavg,
  readMeminfo,
  readNetDev,
  readProcStat,
  selectWholeDisks,
} from "../../../src/probes/host/procfs.ts";

const STAT_FIXTURE = `cpu  10414 3 6890 56657 376 1 387 7 11 0
cpu0 4557 1 2957 29609 25 0 192 3 5 0
cpu1 5856 2 3932 27048 350 1 195 4 6 0
intr 398424 0 0 0
ctxt 964693
btime 1732600000
processes 6810
procs_running 2
procs_blocked 0
softirq 1 2 3
`;

const MEMINFO_FIXTURE = `MemTotal:       24683620 kB
MemFree:        23992868 kB
MemAvailable:   24109168 kB
Buffers:            6272 kB
Cached:           332396 kB
SwapCached:            0 kB
SwapTotal:       2097148 kB
SwapFree:        2097000 kB
HugePages_Total:       0
Hugepagesize:       2048 kB
`;

const DISKSTATS_FIXTURE = `   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
   7       1 loop1 12 0 96 3 0 0 0 0 0 4 3 0 0 0 0 0 0
 254       0 vda 32000 7037 1603378 7727 26478 21137 2425176 8463 0 7604 18229 9467 10 750864 980 4717 1057
 254       1 vda1 31000 7000 1600000 7700 26000 21000 2400000 8400 0 7500 18000
 253       0 zram0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
 104       0 cciss/c0d0 5 0 40 1 2 0 16 1 0 2 2
   8       0 sda 1 2 3 4
`;

const NETDEV_FIXTURE = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:   41052     566    0    0    0     0          0         0    41052     566    0    0    0     0       0          0
  eth0: 425141619   13138    3    4    0     0          0         0   673223    8118    5    6    0     0       0          0
wlan0:123456789012 10 0 0 0 0 0 0 99 1 0 0 0 0 0 0
`;

describe("parseProcStat", () => {
  it("parses the aggregate and per-cpu lines, ignoring guest columns", () => {
    const s = parseProcStat(STAT_FIXTURE);
    expect(s.total).toEqual({ user: 10414, nice: 3, system: 6890, idle: 56657, iowait: 376, irq: 1, softirq: 387, steal: 7 });
    expect(s.perCpu.map((c) => c.cpu)).toEqual([0, 1]);
    expect(s.perCpu[1]!.times).toEqual({ user: 5856, nice: 2, system: 3932, idle: 27048, iowait: 350, irq: 1, softirq: 195, steal: 4 });
  });

  it("reads missing columns of old kernels as 0 and rejects garbage", () => {
    expect(parseProcStat("cpu 1 2 3 4\n").total).toEqual({ user: 1, nice: 2, system: 3, idle: 4, iowait: 0, irq: 0, softirq: 0, steal: 0 });
    expect(() => parseProcStat("intr 1\n")).toThrow(ProcfsParseError);
    expect(() => parseProcStat("intr 1\n")).toThrow('/proc/stat: no aggregate "cpu" line');
    expect(() => parseProcStat("cpu 1 x 3 4\n", "/fake/stat")).toThrow(/^\/fake\/stat: malformed cpu line/);
  });
});

describe("parseMeminfo", () => {
  it("converts kB to bytes and keeps counts as counts", () => {
    const m = parseMeminfo(MEMINFO_FIXTURE);
    expect(m).toEqual({
      memTotal: 24683620 * 1024,
      memFree: 23992868 * 1024,
      memAvailable: 24109168 * 1024,
      buffers: 6272 * 1024,
      cached: 332396 * 1024,
      swapTotal: 2097148 * 1024,
      swapFree: 2097000 * 1024,
    });
    expect(parseMeminfoFields(MEMINFO_FIXTURE).get("HugePages_Total")).toBe(0);
    expect(parseMeminfoFields(MEMINFO_FIXTURE).get("Hugepagesize")).toBe(2048 * 1024);
    expect(memoryUsedBytes(m)).toBe((24683620 - 24109168) * 1024);
  });

  it("falls back to total-free-buffers-cached without MemAvailable and reports missing fields", () => {
    const old = MEMINFO_FIXTURE.replace(/^MemAvailable:.*\n/m, "");
    const m = parseMeminfo(old);
    expect(m.memAvailable).toBeUndefined();
    expect(memoryUsedBytes(m)).toBe((24683620 - 23992868 - 6272 - 332396) * 1024);
    expect(() => parseMeminfo("MemFree: 1 kB\n")).toThrow('/proc/meminfo: missing field "MemTotal"');
  });
});

describe("parseDiskstats / selectWholeDisks", () => {
  it("parses sectors as 512-byte units and io time in ms, skipping short lines", () => {
    const d = parseDiskstats(DISKSTATS_FIXTURE);
    expect(d.map((x) => x.device)).toEqual(["loop0", "loop1", "vda", "vda1", "zram0", "cciss/c0d0"]);
    expect(d[2]).toEqual({
      major: 254,
      minor: 0,
      device: "vda",
      readsCompleted: 32000,
      readBytes: 1603378 * 512,
      writesCompleted: 26478,
      writtenBytes: 2425176 * 512,
      ioTimeMs: 7604,
    });
  });

  it("keeps whole devices from /sys/block and drops idle loop/ram/zram devices", () => {
    const all = parseDiskstats(DISKSTATS_FIXTURE);
    const block = new Set(["loop0", "loop1", "vda", "zram0", "cciss!c0d0"]);
    expect(selectWholeDisks(all, block).map((x) => x.device)).toEqual(["loop1", "vda", "cciss/c0d0"]);
    // Without a /sys/block listing there is no partition filter, but idle loops still go.
    expect(selectWholeDisks(all, undefined).map((x) => x.device)).toEqual(["loop1", "vda", "vda1", "cciss/c0d0"]);
  });
});

describe("parseNetDev", () => {
  it("parses every interface, including a name glued to a wide counter", () => {
    const n = parseNetDev(NETDEV_FIXTURE);
    expect(n.map((x) => x.interface)).toEqual(["lo", "eth0", "wlan0"]);
    expect(n[1]).toEqual({
      interface: "eth0",
      rxBytes: 425141619,
      rxPackets: 13138,
      rxErrors: 3,
      rxDrops: 4,
      txBytes: 673223,
      txPackets: 8118,
      txErrors: 5,
      txDrops: 6,
    });
    expect(n[2]!.rxBytes).toBe(123456789012);
    expect(n[2]!.txBytes).toBe(99);
  });

  it("rejects a truncated line", () => {
    expect(() => parseNetDev("  eth0: 1 2 3\n")).toThrow(/^\/proc\/net\/dev: malformed line/);
  });
});

describe("parseLoadavg", () => {
  it("parses loads and task counts", () => {
    expect(parseLoadavg("0.20 0.40 0.21 2/140 6810\n")).toEqual({ load1: 0.2, load5: 0.4, load15: 0.21, running: 2, total: 140 });
    expect(() => parseLoadavg("nonsense")).toThrow(ProcfsParseError);
  });
});

describe("readers on the live /proc", () => {
  it("MemTotal equals grep MemTotal /proc/meminfo × 1024", async () => {
    const line = execFileSync("grep", ["MemTotal", "/proc/meminfo"], { encoding: "utf8" });
    const kib = Number(/MemTotal:\s+(\d+) kB/.exec(line)![1]);
    const m = await readMeminfo();
    expect(m.memTotal).toBe(kib * 1024);
    expect(m.memTotal).toBe(os.totalmem());
    expect(m.memAvailable).toBeGreaterThan(0);
    expect(m.memAvailable!).toBeLessThanOrEqual(m.memTotal);
  });

  it("cpu jiffies are monotonic between two reads and per-cpu lines cover the online CPUs", async () => {
    const a = await readProcStat();
    // Burn ~50 ms of CPU so at least a few ticks are accounted to some busy mode.
    const until = Date.now() + 50;
    while (Date.now() < until) Math.sqrt(Math.random());
    const b = await readProcStat();
    for (const mode of CPU_MODES) {
      if (mode === "idle" || mode === "iowait") continue; // these two may trade ticks on NO_HZ kernels
      expect(b.total[mode], mode).toBeGreaterThanOrEqual(a.total[mode]);
    }
    expect(b.total.idle + b.total.iowait).toBeGreaterThanOrEqual(a.total.idle + a.total.iowait);
    const busy = (t: typeof a.total): number => t.user + t.nice + t.system + t.irq + t.softirq + t.steal;
    expect(busy(b.total)).toBeGreaterThan(busy(a.total));
    expect(b.perCpu.length).toBe(os.cpus().length);
  });

  it("diskstats lists whole devices only, matching /sys/block/<dev>/stat", async () => {
    const block = new Set(readdirSync("/sys/block"));
    const sysReads = (dev: string): number => Number(readFileSync(`/sys/block/${dev}/stat`, "utf8").trim().split(/\s+/)[0]);
    const before = new Map([...block].map((d) => [d, sysReads(d)]));
    const disks = await readDiskstats();
    expect(disks.length).toBeGreaterThan(0);
    for (const d of disks) {
      const dev = d.device.replaceAll("/", "!");
      expect(block.has(dev), `${d.device} is in /sys/block`).toBe(true);
      expect(d.readsCompleted).toBeGreaterThanOrEqual(before.get(dev)!);
      expect(d.readsCompleted).toBeLessThanOrEqual(sysReads(dev));
      expect(d.readBytes % 512).toBe(0);
    }
  });

  it("net/dev lo counters sit between two reads of /sys/class/net/lo/statistics", async () => {
    const sys = (f: string): number => Number(readFileSync(`/sys/class/net/lo/statistics/${f}`, "utf8"));
    const before = { rx: sys("rx_bytes"), tx: sys("tx_packets") };
    const lo = (await readNetDev()).find((n) => n.interface === "lo");
    const after = { rx: sys("rx_bytes"), tx: sys("tx_packets") };
    expect(lo).toBeDefined();
    expect(lo!.rxBytes).toBeGreaterThanOrEqual(before.rx);
    expect(lo!.rxBytes).toBeLessThanOrEqual(after.rx);
    expect(lo!.txPackets).toBeGreaterThanOrEqual(before.tx);
    expect(lo!.txPackets).toBeLessThanOrEqual(after.tx);
    const names = (await readNetDev()).map((n) => n.interface).sort();
    expect(names).toEqual(readdirSync("/sys/class/net").sort());
  });

  it("loadavg agrees with os.loadavg()", async () => {
    const l = await readLoadavg();
    const [l1, l5, l15] = os.loadavg();
    // The kernel recomputes every 5 s, so allow for one update between the two reads.
    expect(Math.abs(l.load1 - l1!)).toBeLessThan(0.5);
    expect(Math.abs(l.load5 - l5!)).toBeLessThan(0.2);
    expect(Math.abs(l.load15 - l15!)).toBeLessThan(0.1);
    expect(l.total).toBeGreaterThan(0);
  });
});
