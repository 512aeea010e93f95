import { afterEach, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import net from "node:net";
import type { Histogram, MetricSeries, TelemetryEvent } from "@probepilot/shared";
import type { TelemetryContent } from "../../../src/telemetry/telemetry-content.ts";
import { createNetns, type Netns } from "./support/netns.ts";
import { describeKernel, startProbe, type RunningProbe } from "./support/probe-harness.ts";

let running: RunningProbe | null = null;
let control: RunningProbe | null = null;
let netns: Netns | null = null;
afterEach(async () => {
  try {
    await running?.stop();
    await control?.stop();
  } finally {
    running = control = null;
    // Always remove the namespace, whatever the test (or stopping a probe) did.
    await netns?.remove();
    netns = null;
  }
});

/** The comm the kernel gives this process's main thread (where node makes its socket calls). */
const OUR_COMM = readFileSync("/proc/self/comm", "utf8").trim();

const flows = (all: TelemetryContent[]): TelemetryEvent[] => all.flatMap((c) => c.events ?? []).filter((e) => e.name === "tcp_flow");
const series = (all: TelemetryContent[], metric: string): MetricSeries[] => all.flatMap((c) => c.series ?? []).filter((s) => s.metric === metric);
/** Latest value of each (cumulative) counter of `metric`, keyed by one label's value. */
function latestBy(all: TelemetryContent[], metric: string, label: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of series(all, metric)) out.set(s.labels[label] ?? "", s.points.at(-1)![1]);
  return out;
}
const histograms = (all: TelemetryContent[], metric: string): Histogram[] => all.flatMap((c) => c.histograms ?? []).filter((h) => h.metric === metric);

/** Wait until the probe has flushed `n` more intervals than it had now: whatever happened before is in them. */
async function moreIntervals(probe: RunningProbe, n = 2): Promise<void> {
  const mark = probe.emitted.length;
  await probe.until((all) => (all.length >= mark + n ? true : undefined), `${n} more probe intervals`);
}

function listen(host: string, onConnection: (s: net.Socket) => void): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer(onConnection);
    server.once("error", reject);
    server.listen(0, host, () => resolve(server));
  });
}
const portOf = (server: net.Server) => (server.address() as net.AddressInfo).port;
const closeServer = (server: net.Server) => new Promise<void>((resolve) => server.close(() => resolve()));

/**
 * One connection: the client sends `up` bytes, the server answers `down` bytes
 * once it has them all and closes; the client closes on the server's FIN.
 * Resolves when both ends are closed, with the ports and what each side read.
 */
async function exchange(host: string, up: number, down: number): Promise<{ serverPort: number; clientPort: number; serverGot: number; clientGot: number }> {
  let serverGot = 0;
  let serverClosed!: Promise<void>;
  const server = await listen(host, (s) => {
    serverClosed = new Promise((resolve) => s.once("close", () => resolve()));
    s.on("data", (d: Buffer) => {
      serverGot += d.length;
      if (serverGot === up) s.end(Buffer.alloc(down, 0x62));
    });
  });
  try {
    const serverPort = portOf(server);
    let clientGot = 0;
    let clientPort = 0;
    await new Promise<void>((resolve, reject) => {
      const c = net.connect({ port: serverPort, host }, () => {
        clientPort = c.localPort!;
        c.write(Buffer.alloc(up, 0x61));
      });
      c.on("data", (d: Buffer) => (clientGot += d.length));
      c.once("error", reject);
      c.once("close", () => resolve());
    });
    await serverClosed;
    return { serverPort, clientPort, serverGot, clientGot };
  } finally {
    await closeServer(server);
  }
}

describeKernel("tcp_flows (sock:inet_sock_set_state)", () => {
  for (const [host, family] of [
    ["127.0.0.1", "ipv4"],
    ["::1", "ipv6"],
  ] as const) {
    it(`reports both ends of a ${family} loopback connection with the exact payload bytes each way`, async () => {
      running = await startProbe("tcp_flows", { pid: process.pid, intervalMs: 200 });
      const started = Date.now();
      const x = await exchange(host, 12_345, 6_789);
      const elapsed = Date.now() - started;
      expect({ serverGot: x.serverGot, clientGot: x.clientGot }).toEqual({ serverGot: 12_345, clientGot: 6_789 });

      const outbound = await running.until((all) => flows(all).find((e) => e.attrs.direction === "outbound" && e.attrs.sport === x.clientPort && e.attrs.dport === x.serverPort), `outbound flow ${x.clientPort} -> ${x.serverPort}`);
      const inbound = await running.until((all) => flows(all).find((e) => e.attrs.direction === "inbound" && e.attrs.sport === x.serverPort && e.attrs.dport === x.clientPort), `inbound flow ${x.serverPort} <- ${x.clientPort}`);
      const common = { pid: process.pid, comm: OUR_COMM, family, saddr: host, daddr: host };
      expect(outbound.attrs).toMatchObject({ ...common, bytesSent: 12_345, bytesReceived: 6_789 });
      expect(inbound.attrs).toMatchObject({ ...common, bytesSent: 6_789, bytesReceived: 12_345 });
      for (const f of [outbound, inbound]) {
        expect(f.attrs.durationMs).toBeGreaterThan(0);
        expect(f.attrs.durationMs).toBeLessThanOrEqual(elapsed + 50);
        expect(Math.abs(f.at - Date.now())).toBeLessThan(10_000);
      }

      // The counters are cumulative over every flow the (pid-filtered) probe saw, and
      // the event budget is far from full: they equal the sums over the events.
      await moreIntervals(running);
      for (const direction of ["outbound", "inbound"] as const) {
        const mine = flows(running.emitted).filter((e) => e.attrs.direction === direction);
        const sum = (k: "bytesSent" | "bytesReceived") => mine.reduce((n, e) => n + (e.attrs[k] as number), 0);
        expect(latestBy(running.emitted, "tcp_flows_closed_total", "direction").get(direction)).toBe(mine.length);
        expect(latestBy(running.emitted, "tcp_flow_bytes_sent_total", "direction").get(direction)).toBe(sum("bytesSent"));
        expect(latestBy(running.emitted, "tcp_flow_bytes_received_total", "direction").get(direction)).toBe(sum("bytesReceived"));
        expect(sum("bytesSent")).toBeGreaterThanOrEqual(direction === "outbound" ? 12_345 : 6_789);
      }
    });
  }

  it("minDurationMs drops a short connection and keeps a long one", async () => {
    running = await startProbe("tcp_flows", { pid: process.pid, minDurationMs: 400, intervalMs: 200 });
    // The same probe without the threshold shows that the short flow was there to drop.
    control = await startProbe("tcp_flows", { pid: process.pid, intervalMs: 200 });
    const server = await listen("127.0.0.1", (s) => {
      s.resume();
      s.on("end", () => s.end());
    });
    try {
      const port = portOf(server);
      const connection = async (holdMs: number) => {
        const c = net.connect({ port, host: "127.0.0.1" });
        await new Promise<void>((resolve, reject) => c.once("connect", resolve).once("error", reject));
        const localPort = c.localPort!;
        await new Promise((r) => setTimeout(r, holdMs));
        c.end();
        await new Promise<void>((resolve) => c.once("close", () => resolve()).resume());
        return localPort;
      };
      const short = await connection(0);
      const long = await connection(800);
      const outbound = await running.until((all) => flows(all).find((e) => e.attrs.direction === "outbound" && e.attrs.sport === long), "the long outbound flow");
      const inbound = await running.until((all) => flows(all).find((e) => e.attrs.direction === "inbound" && e.attrs.dport === long), "the long inbound flow");
      expect(outbound.attrs.durationMs).toBeGreaterThanOrEqual(400);
      expect(inbound.attrs.durationMs).toBeGreaterThanOrEqual(400);
      const shortFlows = await control.until((all) => {
        const seen = flows(all).filter((e) => e.attrs.sport === short || e.attrs.dport === short);
        return seen.length === 2 ? seen : undefined;
      }, "both ends of the short flow, unfiltered");
      expect(shortFlows.every((e) => (e.attrs.durationMs as number) < 400)).toBe(true);
      // The short one closed first: had it passed the filter, it would be in the same or an earlier interval.
      await moreIntervals(running);
      expect(flows(running.emitted).filter((e) => e.attrs.sport === short || e.attrs.dport === short)).toEqual([]);
    } finally {
      await closeServer(server);
    }
  });
});

describeKernel("tcp_connect_latency (sock:inet_sock_set_state)", () => {
  it("times each completed connect and counts a refused one as a failure", async () => {
    running = await startProbe("tcp_connect_latency", { pid: process.pid, intervalMs: 200 });
    const server = await listen("127.0.0.1", (s) => s.destroy());
    // A port that was just free: nothing listens there, so the connect is refused.
    const closed = await listen("127.0.0.1", () => {});
    const closedPort = portOf(closed);
    await closeServer(closed);
    try {
      const connects = 3;
      for (let i = 0; i < connects; i++) {
        const c = net.connect({ port: portOf(server), host: "127.0.0.1" });
        await new Promise<void>((resolve, reject) => c.once("connect", resolve).once("error", reject));
        c.destroy();
      }
      const refused = await new Promise<string>((resolve) => net.connect({ port: closedPort, host: "127.0.0.1" }).once("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "")));
      expect(refused).toBe("ECONNREFUSED");

      const count = (all: TelemetryContent[]) => histograms(all, "tcp_connect_latency").reduce((n, h) => n + h.count, 0);
      const failures = (all: TelemetryContent[]) => series(all, "tcp_connect_failures_total").at(-1)?.points.at(-1)?.[1] ?? 0;
      await running.until((all) => (count(all) >= connects && failures(all) >= 1 ? true : undefined), `${connects} connect latencies and 1 failure`);
      await moreIntervals(running);
      // pid filter: exactly ours.
      expect(count(running.emitted)).toBe(connects);
      expect(failures(running.emitted)).toBe(1);
      const hists = histograms(running.emitted, "tcp_connect_latency");
      const sumUs = hists.reduce((n, h) => n + h.sum, 0);
      expect(hists.every((h) => h.unit === "us" && h.buckets.reduce((a, b) => a + b, 0) === h.count)).toBe(true);
      // Loopback handshakes: more than nothing, well under a second each.
      expect(sumUs).toBeGreaterThan(0);
      expect(sumUs / connects).toBeLessThan(1_000_000);
    } finally {
      await closeServer(server);
    }
  });
});

/** Runs inside the namespace: a server and a client in one node process; the client sends `total` bytes, then both close. */
const BULK_SCRIPT = `
const net = require("node:net");
const [port, total] = process.argv.slice(1).map(Number);
let received = 0;
const server = net.createServer((s) => { s.on("data", (d) => { received += d.length; }); s.on("end", () => s.end()); });
server.listen(port, "127.0.0.1", () => {
  let clientPort = 0;
  const c = net.connect(port, "127.0.0.1", () => {
    clientPort = c.localPort;
    const chunk = Buffer.alloc(1 << 20, 120);
    let left = total;
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        left -= n;
        if (!c.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void c.once("drain", pump);
      }
      c.end();
    };
    pump();
  });
  c.resume();
  c.on("close", () => { server.close(); console.log(JSON.stringify({ clientPort, received })); });
});
`;

/** Runs inside the namespace: `n` connects from 127.0.0.1:<base+i> to a port nobody listens on. */
const REFUSED_SCRIPT = `
const net = require("node:net");
const [closed, base, n] = process.argv.slice(1).map(Number);
(async () => {
  let refused = 0;
  for (let i = 0; i < n; i++) {
    await new Promise((resolve) => {
      const s = net.connect({ port: closed, host: "127.0.0.1", localAddress: "127.0.0.1", localPort: base + i });
      s.once("error", (e) => { if (e.code === "ECONNREFUSED") refused++; resolve(); });
      s.once("connect", () => { s.destroy(); resolve(); });
    });
  }
  console.log(JSON.stringify({ refused }));
})();
`;

/** Wait until every TCP socket in the namespace is gone or in TIME-WAIT. */
async function settledSockets(ns: Netns, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await ns.run("ss", ["-Htan"], 10_000);
    if (r.code !== 0) throw new Error(`ss in netns ${ns.name} failed (exit ${r.code ?? r.signal}): ${r.stderr.trim()}`);
    const busy = r.stdout.split("\n").filter((l) => l.trim() && !l.startsWith("TIME-WAIT"));
    if (busy.length === 0) return;
    if (Date.now() > deadline) throw new Error(`sockets in ${ns.name} still busy after ${timeoutMs} ms:\n${busy.join("\n")}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A port unlikely to be used by anyone else on the host (the probe is host-wide: its keys do not say which namespace). */
const randomPort = (from: number, to: number) => from + Math.floor(Math.random() * (to - from));

describeKernel("tcp_retransmits (tcp:tcp_retransmit_skb, tcp_send_reset, tcp_receive_reset)", () => {
  // Loss makes the transfer's time vary (an unlucky run waits for a few retransmit timeouts).
  it("counts the retransmits that packet loss causes, consistently with the namespace's TcpRetransSegs", { timeout: 30_000 }, async () => {
    // No netem on this kernel: an nftables rule on the input hook of a private
    // namespace's loopback drops one packet in ten, which makes real loss.
    netns = await createNetns("pp-test-rtx");
    const nft = async (...args: string[]) => {
      const r = await netns!.run("nft", args, 10_000);
      if (r.code !== 0) throw new Error(`nft ${args.join(" ")} in netns ${netns!.name} failed (exit ${r.code ?? r.signal}): ${r.stderr.trim()}`);
    };
    await nft("add", "table", "inet", "pp_loss");
    await nft("add", "chain", "inet", "pp_loss", "input", "{ type filter hook input priority 0; policy accept; }");
    await nft("add", "rule", "inet", "pp_loss", "input", "numgen", "random", "mod", "10", "==", "0", "drop");

    running = await startProbe("tcp_retransmits", { intervalMs: 200 });
    const serverPort = randomPort(20_000, 40_000);
    const total = 32 << 20;
    const before = await netns.nstat("TcpRetransSegs");
    const out = await netns.run(process.execPath, ["-e", BULK_SCRIPT, String(serverPort), String(total)], 20_000);
    expect(out.code, `bulk transfer in ${netns.name}: ${out.stderr}`).toBe(0);
    const { clientPort, received } = JSON.parse(out.stdout) as { clientPort: number; received: number };
    expect(received).toBe(total);
    // The client's "close" can come before the server's last ACK: a server FIN
    // whose ACK was dropped is retransmitted from LAST-ACK afterwards. Read the
    // counter once only TIME-WAIT (which never retransmits) is left.
    await settledSockets(netns);
    const after = await netns.nstat("TcpRetransSegs");
    const segs = after.TcpRetransSegs! - before.TcpRetransSegs!;
    await moreIntervals(running);

    // Retransmits of the client's data are keyed by the server (the remote end),
    // the server's (its FIN, say) by the client's port.
    const byPeer = latestBy(running.emitted, "tcp_retransmits_total", "peer");
    const skbs = (byPeer.get(`127.0.0.1_${serverPort}`) ?? 0) + (byPeer.get(`127.0.0.1_${clientPort}`) ?? 0);
    // The probe counts retransmitted skbs, TcpRetransSegs counts segments: a
    // GSO skb of k segments is 1 here and k there, and SYN-ACK retransmits
    // (their own tracepoint) only count there. So skbs <= segs. On loopback
    // (MTU 64 KiB, so most skbs are one segment) the two stay close: measured
    // 337 skbs for 348 segments; 0.8 leaves room for more GSO without letting
    // a probe that misses a real share of the retransmits pass.
    expect(segs, "10 % loss should cause retransmits").toBeGreaterThan(0);
    expect(skbs).toBeGreaterThan(0);
    expect(skbs).toBeLessThanOrEqual(segs);
    expect(skbs).toBeGreaterThanOrEqual(Math.floor(0.8 * segs));
  });

  it("counts each RST sent and received for connects refused on loopback", async () => {
    // In a namespace of its own so that TcpOutRsts counts only these resets.
    netns = await createNetns("pp-test-rst");
    running = await startProbe("tcp_retransmits", { intervalMs: 200 });
    const closedPort = randomPort(20_000, 40_000);
    const base = randomPort(40_000, 60_000);
    const n = 4;
    const before = await netns.nstat("TcpOutRsts");
    const out = await netns.run(process.execPath, ["-e", REFUSED_SCRIPT, String(closedPort), String(base), String(n)]);
    expect(out.code, `refused connects in ${netns.name}: ${out.stderr}`).toBe(0);
    expect(JSON.parse(out.stdout)).toEqual({ refused: n });
    const after = await netns.nstat("TcpOutRsts");
    expect(after.TcpOutRsts! - before.TcpOutRsts!).toBe(n);
    await moreIntervals(running);

    // Loopback is both ends: the closed port's side sends each RST (no socket:
    // the key's remote end is the connecting client's port), the client's
    // SYN_SENT socket receives it (remote end: the closed port).
    const received = latestBy(running.emitted, "tcp_resets_received_total", "peer");
    expect(received.get(`127.0.0.1_${closedPort}`)).toBe(n);
    const sent = latestBy(running.emitted, "tcp_resets_sent_total", "peer");
    const clientPorts = Array.from({ length: n }, (_, i) => base + i);
    expect(clientPorts.map((p) => sent.get(`127.0.0.1_${p}`) ?? 0)).toEqual(clientPorts.map(() => 1));
  });
});
