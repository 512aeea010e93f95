import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { gzipSync, gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN, detectCapabilities, hasCapability } from "../../src/host/capabilities.ts";

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "pp-caps-"));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** Writes `files` (relative path → content; a trailing "/" makes a directory) under a fresh root. */
async function tree(name: string, files: Record<string, string | Buffer>): Promise<string> {
  const root = path.join(tmp, name);
  await mkdir(root, { recursive: true });
  for (const [rel, content] of Object.entries(files)) {
    const p = path.join(root, rel);
    if (rel.endsWith("/")) {
      await mkdir(p, { recursive: true });
    } else {
      await mkdir(path.dirname(p), { recursive: true });
      await writeFile(p, content);
    }
  }
  return root;
}

const status = (capEff: string, uid: number): string =>
  `Name:\tnode\nUmask:\t0022\nState:\tR (running)\nUid:\t${uid}\t${uid}\t${uid}\t${uid}\nCapInh:\t0000000000000000\nCapPrm:\t${capEff}\nCapEff:\t${capEff}\n`;
const capHex = (...caps: number[]): string => caps.reduce((m, c) => m | (1n << BigInt(c)), 0n).toString(16).padStart(16, "0");
/** The BTF header magic 0xeB9F, little-endian, followed by junk. */
const BTF_BLOB = Buffer.from([0x9f, 0xeb, 0x01, 0x00, 0x18, 0x00, 0x00, 0x00]);

describe("hasCapability", () => {
  it("reads bits past 32 (CAP_BPF=39) and rejects malformed masks", () => {
    expect(hasCapability("000001fffeffffff", CAP_SYS_ADMIN)).toBe(true);
    expect(hasCapability("000001fffeffffff", CAP_BPF)).toBe(true);
    expect(hasCapability("000001fffeffffff", 24)).toBe(false); // 0xfe… clears bit 24 (CAP_SYS_RESOURCE)
    expect(hasCapability("0000008000000000", CAP_BPF)).toBe(true);
    expect(hasCapability("0000008000000000", CAP_PERFMON)).toBe(false);
    expect(hasCapability("0000000000200000", CAP_SYS_ADMIN)).toBe(true);
    expect(hasCapability("0000000000000000", CAP_SYS_ADMIN)).toBe(false);
    expect(hasCapability("", CAP_SYS_ADMIN)).toBe(false);
    expect(hasCapability("zz", CAP_SYS_ADMIN)).toBe(false);
  });
});

describe("detectCapabilities on this host", () => {
  it("reports what procfs/sysfs say, as root", async () => {
    const caps = await detectCapabilities();
    console.info(`detectCapabilities() on this host: ${JSON.stringify(caps, null, 2)}`);
    const selfStatus = readFileSync("/proc/self/status", "utf8");

    expect(caps.uid).toBe(process.getuid!());
    expect(caps.uid).toBe(0); // the brief: agents run as root on these machines
    expect(caps.capEff).toBe(/^CapEff:\s*([0-9a-f]+)$/m.exec(selfStatus)![1]);
    expect(caps.btf).toBe(true);
    expect(caps.bpfSyscall).toEqual({ permitted: true });
    expect(caps.perfEvents).toEqual({
      available: true,
      paranoid: Number(readFileSync("/proc/sys/kernel/perf_event_paranoid", "utf8").trim()),
    });

    // Tracepoints need tracefs mounted where libbpf looks. Decide the expectation from the
    // mount table (an independent source) rather than hard-coding it: on some of these
    // machines nothing mounts tracefs at boot.
    const mounts = readFileSync("/proc/self/mounts", "utf8")
      .split("\n")
      .map((l) => l.split(" "))
      .filter((f) => f[2] === "tracefs")
      .map((f) => f[1]);
    const mounted = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"].find((p) => mounts.includes(p));
    if (mounted) {
      expect(caps.tracepoints).toEqual({ available: true, tracefs: mounted });
    } else {
      expect(caps.tracepoints.available).toBe(false);
      expect(caps.tracepoints.tracefs).toBeUndefined();
      expect(caps.tracepoints.reason).toContain("not mounted");
      expect(caps.tracepoints.reason).toContain("/sys/kernel/tracing");
    }

    // kprobes: the kernel config (when exposed) is the independent reference.
    if (existsSync("/proc/config.gz")) {
      const config = gunzipSync(readFileSync("/proc/config.gz")).toString("utf8");
      if (/^# CONFIG_KPROBES is not set$/m.test(config)) {
        expect(caps.kprobes.available).toBe(false);
        expect(caps.kprobes.reason).toContain("CONFIG_KPROBES");
      } else if (/^CONFIG_KPROBE_EVENTS=y$/m.test(config)) {
        expect(caps.kprobes).toEqual({ available: true });
      }
    }
  });
});

describe("detectCapabilities on fixture roots", () => {
  it("gives a reason for every missing piece when procfs and sysfs are empty", async () => {
    const procRoot = await tree("empty-proc", { "./": "" });
    const sysRoot = await tree("empty-sys", { "./": "" });
    const caps = await detectCapabilities({ procRoot, sysRoot });
    expect(caps.btf).toBe(false);
    expect(caps.capEff).toBe("");
    expect(caps.uid).toBe(process.getuid!()); // no status file: falls back to the process uid
    expect(caps.bpfSyscall.permitted).toBe(false);
    expect(caps.bpfSyscall.reason).toContain(path.join(procRoot, "sys/kernel/unprivileged_bpf_disabled"));
    expect(caps.tracepoints.available).toBe(false);
    expect(caps.tracepoints.reason).toContain(path.join(sysRoot, "kernel/tracing"));
    expect(caps.tracepoints.reason).toContain(path.join(sysRoot, "kernel/debug/tracing"));
    expect(caps.tracepoints.reason).toContain("cannot read");
    expect(caps.perfEvents).toEqual({ available: false, reason: expect.stringContaining("perf_event_paranoid") });
    expect(caps.kprobes.available).toBe(false);
    expect(caps.kprobes.reason).toContain(path.join(sysRoot, "bus/event_source/devices/kprobe"));
  });

  it("explains an unprivileged process on a locked-down kernel with tracefs unmounted", async () => {
    const procRoot = await tree("unpriv-proc", {
      "self/status": status("0000000000000000", 1000),
      "sys/kernel/unprivileged_bpf_disabled": "2\n",
      "sys/kernel/perf_event_paranoid": "2\n",
      filesystems: "nodev\tsysfs\nnodev\ttracefs\nnodev\tbpf\n\text4\n",
      "config.gz": gzipSync("CONFIG_BPF_SYSCALL=y\n# CONFIG_KPROBES is not set\n"),
    });
    const sysRoot = await tree("unpriv-sys", {
      "kernel/btf/vmlinux": BTF_BLOB,
      "kernel/tracing/": "", // the empty mount point a distro leaves when nothing mounted tracefs
    });
    const caps = await detectCapabilities({ procRoot, sysRoot });
    expect(caps.uid).toBe(1000);
    expect(caps.capEff).toBe("0000000000000000");
    expect(caps.btf).toBe(true);
    expect(caps.bpfSyscall.permitted).toBe(false);
    expect(caps.bpfSyscall.reason).toMatch(/neither CAP_SYS_ADMIN \(21\) nor CAP_BPF \(39\)/);
    expect(caps.bpfSyscall.reason).toContain("unprivileged_bpf_disabled=2");
    expect(caps.tracepoints.available).toBe(false);
    expect(caps.tracepoints.reason).toContain("supports tracefs but it is not mounted");
    expect(caps.perfEvents.available).toBe(false);
    expect(caps.perfEvents.paranoid).toBe(2);
    expect(caps.perfEvents.reason).toContain("perf_event_paranoid=2");
    expect(caps.perfEvents.reason).toContain("CAP_PERFMON (38)");
    expect(caps.kprobes.available).toBe(false);
    expect(caps.kprobes.reason).toContain("tracefs not mounted");
    expect(caps.kprobes.reason).toContain("without CONFIG_KPROBES (per /proc/config.gz)");
  });

  it("treats unprivileged_bpf_disabled=0 as not enough for tracing programs, and paranoid<=0 as enough for perf", async () => {
    const procRoot = await tree("lax-proc", {
      "self/status": status("0000000000000000", 1000),
      "sys/kernel/unprivileged_bpf_disabled": "0\n",
      "sys/kernel/perf_event_paranoid": "-1\n",
    });
    const caps = await detectCapabilities({ procRoot, sysRoot: await tree("lax-sys", { "./": "" }) });
    expect(caps.bpfSyscall.permitted).toBe(false);
    expect(caps.bpfSyscall.reason).toContain("only allows socket filters");
    expect(caps.perfEvents).toEqual({ available: true, paranoid: -1 });
  });

  it("accepts CAP_BPF+CAP_PERFMON without CAP_SYS_ADMIN and finds tracefs under debugfs", async () => {
    const procRoot = await tree("capbpf-proc", {
      "self/status": status(capHex(CAP_BPF, CAP_PERFMON), 0),
      "sys/kernel/unprivileged_bpf_disabled": "2\n",
      "sys/kernel/perf_event_paranoid": "3\n",
    });
    const sysRoot = await tree("capbpf-sys", {
      "kernel/btf/vmlinux": BTF_BLOB,
      "kernel/tracing/": "",
      "kernel/debug/tracing/events/sched/sched_switch/id": "316\n",
      "kernel/debug/tracing/kprobe_events": "",
    });
    const caps = await detectCapabilities({ procRoot, sysRoot });
    expect(caps).toEqual({
      btf: true,
      bpfSyscall: { permitted: true },
      tracepoints: { available: true, tracefs: path.join(sysRoot, "kernel/debug/tracing") },
      perfEvents: { available: true, paranoid: 3 },
      kprobes: { available: true },
      uid: 0,
      capEff: "000000c000000000",
    });
  });

  it("detects kprobes from the kprobe PMU alone and rejects a BTF file without the magic", async () => {
    const sysRoot = await tree("pmu-sys", {
      "bus/event_source/devices/kprobe/type": "6\n",
      "kernel/btf/vmlinux": "not btf",
    });
    const caps = await detectCapabilities({ procRoot: await tree("pmu-proc", { "./": "" }), sysRoot });
    expect(caps.kprobes).toEqual({ available: true });
    expect(caps.btf).toBe(false);
  });
});
