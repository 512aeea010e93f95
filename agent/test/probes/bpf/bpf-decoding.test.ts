import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { decodeMapDump, FrameReader, FRAME_HEADER_BYTES } from "../../../src/probes/bpf/frames.ts";
import { CounterTotals, EventBudget, HistogramDeltas, labelValue } from "../../../src/probes/bpf/decode-helpers.ts";
import { AF_INET, AF_INET6, ipAddress, PP_HIST } from "../../../src/probes/bpf/records.ts";
import { splitToFit } from "../../../src/telemetry/split-content.ts";
import { labelValueProblem, probeParamsSchema, type TelemetryEvent } from "@probepilot/shared";
import { syscallName } from "../../../src/probes/bpf/syscall-names.ts";

function frame(type: number, mapIndex: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(FRAME_HEADER_BYTES);
  header.writeUInt32LE(payload.length, 0);
  header.writeUInt16LE(type, 4);
  header.writeUInt16LE(mapIndex, 6);
  return Buffer.concat([header, payload]);
}

describe("FrameReader", () => {
  it("yields the same frames however the stream is cut into chunks", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ type: fc.integer({ min: 1, max: 5 }), map: fc.integer({ min: 0, max: 65535 }), payload: fc.uint8Array({ maxLength: 300 }) }), { maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 50 }),
        (frames, cuts) => {
          const stream = Buffer.concat(frames.map((f) => frame(f.type, f.map, Buffer.from(f.payload))));
          const reader = new FrameReader();
          const got = [];
          let offset = 0;
          for (let i = 0; offset < stream.length; i++) {
            const size = cuts[i % cuts.length]!;
            got.push(...reader.push(stream.subarray(offset, offset + size)));
            offset += size;
          }
          expect(reader.buffered).toBe(0);
          expect(got.map((f) => ({ type: f.type, map: f.mapIndex, payload: [...f.payload] }))).toEqual(frames.map((f) => ({ type: f.type, map: f.map, payload: [...f.payload] })));
        },
      ),
    );
  });

  it("rejects a corrupt length instead of waiting forever for it", () => {
    const bad = Buffer.alloc(8);
    bad.writeUInt32LE(0xffffffff, 0);
    expect(() => new FrameReader().push(bad)).toThrow(/corrupt loader output/);
  });
});

describe("decodeMapDump", () => {
  it("splits a dump into its key/value pairs", () => {
    const body = Buffer.alloc(12 + 2 * (4 + 8));
    body.writeUInt32LE(4, 0);
    body.writeUInt32LE(8, 4);
    body.writeUInt32LE(2, 8);
    body.writeUInt32LE(7, 12);
    body.writeBigUInt64LE(70n, 16);
    body.writeUInt32LE(9, 24);
    body.writeBigUInt64LE(90n, 28);
    const dump = decodeMapDump(body);
    expect(dump.entries.map((e) => [e.key.readUInt32LE(0), e.value.readBigUInt64LE(0)])).toEqual([
      [7, 70n],
      [9, 90n],
    ]);
  });

  it("says what is wrong with a truncated dump", () => {
    const body = Buffer.alloc(20);
    body.writeUInt32LE(4, 0);
    body.writeUInt32LE(8, 4);
    body.writeUInt32LE(2, 8);
    expect(() => decodeMapDump(body)).toThrow(/2 entries of 4\+8 bytes need 36 bytes, got 20/);
  });
});

function hist(slots: Record<number, number>, sum: number): Buffer {
  const b = Buffer.alloc(PP_HIST.size);
  let count = 0;
  for (const [slot, n] of Object.entries(slots)) {
    b.writeBigUInt64LE(BigInt(n), Number(slot) * 8);
    count += n;
  }
  b.writeBigUInt64LE(BigInt(sum), PP_HIST.fields.sum.offset);
  b.writeBigUInt64LE(BigInt(count), PP_HIST.fields.count.offset);
  return b;
}

describe("HistogramDeltas", () => {
  it("sends what was added since the last interval, and nothing when nothing was", () => {
    const d = new HistogramDeltas("runqueue_latency", "us");
    expect(d.delta("", {}, hist({ 3: 2, 5: 1 }, 60), 1000)).toEqual({ metric: "runqueue_latency", unit: "us", labels: {}, at: 1000, buckets: [0, 0, 0, 2, 0, 1], sum: 60, count: 3 });
    expect(d.delta("", {}, hist({ 3: 2, 5: 1 }, 60), 2000)).toBeNull();
    expect(d.delta("", {}, hist({ 3: 5, 5: 1 }, 84), 3000)).toMatchObject({ buckets: [0, 0, 0, 3], sum: 24, count: 3 });
  });

  it("treats a smaller cumulative count as a reset (the probe was reloaded)", () => {
    const d = new HistogramDeltas("m", "us");
    d.delta("k", {}, hist({ 4: 10 }, 200), 1);
    expect(d.delta("k", {}, hist({ 2: 1 }, 5), 2)).toMatchObject({ buckets: [0, 0, 1], count: 1, sum: 5 });
  });
});

describe("EventBudget", () => {
  it("admits maxEventsPerSec × interval events and counts the rest", () => {
    const budget = new EventBudget("file_open", 10, 500);
    const admitted = Array.from({ length: 8 }, () => budget.admit()).filter(Boolean).length;
    expect(admitted).toBe(5);
    const { series } = budget.take(1000);
    expect(series).toEqual([{ metric: "probepilot_probe_events_dropped_total", kind: "counter", unit: "events", labels: { probe: "file_open" }, points: [[1000, 3]] }]);
    expect(budget.admit()).toBe(true); // a new interval, a new budget
  });
});

describe("CounterTotals", () => {
  it("accumulates deltas and reports only the counters that moved", () => {
    const c = new CounterTotals();
    c.add("a", { peer: "a" }, 2);
    c.add("b", { peer: "b" }, 1);
    expect(c.series("x_total", "n", 1000).map((s) => s.points[0])).toEqual([
      [1000, 2],
      [1000, 1],
    ]);
    c.add("a", { peer: "a" }, 3);
    expect(c.series("x_total", "n", 2000)).toEqual([{ metric: "x_total", kind: "counter", unit: "n", labels: { peer: "a" }, points: [[2000, 5]] }]);
  });
});

describe("CounterTotals for kernel-cumulative and per-key counters", () => {
  it("set() reports a kernel counter only when it moved", () => {
    const c = new CounterTotals();
    c.set("", {}, 3);
    expect(c.series("f_total", "n", 1).map((s) => s.points[0])).toEqual([[1, 3]]);
    c.set("", {}, 3);
    expect(c.series("f_total", "n", 2)).toEqual([]);
    c.set("", {}, 4);
    expect(c.series("f_total", "n", 3).map((s) => s.points[0])).toEqual([[3, 4]]);
  });

  it("forgets per-key counters idle past the limit, and keeps others forever", () => {
    const perPid = new CounterTotals(1000);
    const single = new CounterTotals();
    perPid.add("42", { pid: "42" }, 5);
    single.add("", {}, 5);
    perPid.series("s_total", "n", 0);
    single.series("s_total", "n", 0);
    perPid.series("s_total", "n", 5000); // idle past 1 s: forgotten
    single.series("s_total", "n", 5000);
    perPid.add("42", { pid: "42" }, 1);
    single.add("", {}, 1);
    expect(perPid.series("s_total", "n", 6000)[0]!.points[0]).toEqual([6000, 1]);
    expect(single.series("s_total", "n", 6000)[0]!.points[0]).toEqual([6000, 6]);
  });
});

describe("labelValue", () => {
  it("turns kernel names into valid label values", () => {
    expect(labelValue("kworker/0:1H")).toBe("kworker_0_1H");
    expect(labelValue("(sd-pam)")).toBe("sd-pam");
    expect(labelValue("x".repeat(80))).toHaveLength(63);
    expect(labelValue("::")).toBe("");
  });
});

describe("syscall names as labels", () => {
  it("every syscall name becomes a valid label value (x86_64 has \"_sysctl\")", () => {
    for (const arch of ["x64", "arm64"]) {
      for (let nr = 0; nr < 600; nr++) expect(labelValueProblem(labelValue(syscallName(nr, arch))), `${arch} ${nr}`).toBeNull();
    }
    expect(labelValue(syscallName(156, "x64"))).toBe("sysctl");
  });
});

describe("probe parameters in kernel units", () => {
  it("limits comm and pathPrefix in UTF-8 bytes, as the kernel stores them", () => {
    expect(probeParamsSchema("process_exec").safeParse({ comm: "a".repeat(15) }).success).toBe(true);
    expect(probeParamsSchema("process_exec").safeParse({ comm: "é".repeat(8) }).success).toBe(false); // 8 chars, 16 bytes
    expect(probeParamsSchema("file_open").safeParse({ pathPrefix: "/" + "ü".repeat(32) }).success).toBe(false);
  });
});

describe("ipAddress", () => {
  const field = { offset: 0, size: 16 };
  it("formats IPv4 and compressed IPv6", () => {
    expect(ipAddress(Buffer.from([127, 0, 0, 1, ...new Array(12).fill(0)]), field, AF_INET)).toBe("127.0.0.1");
    expect(ipAddress(Buffer.from([...new Array(15).fill(0), 1]), field, AF_INET6)).toBe("::1");
    expect(ipAddress(Buffer.from([0xfe, 0x80, ...new Array(12).fill(0), 0x12, 0x34]), field, AF_INET6)).toBe("fe80::1234");
    expect(ipAddress(Buffer.from([...new Array(10).fill(0), 0xff, 0xff, 10, 0, 0, 7]), field, AF_INET6)).toBe("::ffff:10.0.0.7");
  });
});

describe("splitToFit", () => {
  const event = (i: number): TelemetryEvent => ({ name: "file_open", at: i, attrs: { path: `/tmp/${"p".repeat(200)}/${i}` } });

  it("splits a burst into pieces that each fit, in order, losing nothing", () => {
    const events = Array.from({ length: 5000 }, (_, i) => event(i));
    const pieces = splitToFit({ events, series: [] }, 64 * 1024);
    expect(pieces.length).toBeGreaterThan(10);
    for (const p of pieces) expect(Buffer.byteLength(JSON.stringify(p))).toBeLessThanOrEqual(63 * 1024);
    expect(pieces.flatMap((p) => p.events ?? []).map((e) => e.at)).toEqual(events.map((e) => e.at));
  });

  it("terminates when every list holds a single item (one series and one big profile), cutting the profile by stacks", () => {
    const stacks: [string, number][] = Array.from({ length: 400 }, (_, i) => [`busy;main;${"frame;".repeat(20)}leaf${i}`, i + 1]);
    const series = { metric: "x", kind: "gauge" as const, labels: {}, points: [[1, 1]] as [number, number][] };
    const pieces = splitToFit({ series: [series], profiles: [{ at: 1, pid: 7, comm: "busy", stacks }] }, 16 * 1024);
    for (const p of pieces) expect(Buffer.byteLength(JSON.stringify(p))).toBeLessThanOrEqual(15 * 1024);
    expect(pieces.flatMap((p) => p.series ?? [])).toEqual([series]);
    expect(pieces.flatMap((p) => p.profiles ?? []).flatMap((p) => p.stacks)).toEqual(stacks);
    expect(pieces.flatMap((p) => p.profiles ?? []).every((p) => p.pid === 7 && p.comm === "busy" && p.at === 1)).toBe(true);
  });

  it("returns a single item too big alone as it is (the publisher counts it as oversize)", () => {
    const huge = event(1);
    huge.attrs.path = "x".repeat(100_000);
    const series = { metric: "x", kind: "gauge" as const, labels: {}, points: [[1, 1]] as [number, number][] };
    const pieces = splitToFit({ series: [series], events: [huge] }, 64 * 1024);
    expect(pieces).toEqual([{ series: [series] }, { events: [huge] }]);
  });

  it("leaves content that fits alone, and drops empty content", () => {
    expect(splitToFit({ events: [event(1)] }, 64 * 1024)).toEqual([{ events: [event(1)] }]);
    expect(splitToFit({ events: [], series: [] }, 64 * 1024)).toEqual([]);
  });
});
