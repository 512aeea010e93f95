/**
 * `pnpm bench:ingest` — end-to-end telemetry ingest throughput, against a raw COPY
 * baseline measured in the same run (see control-plane/bench/README.md).
 *
 *   agents (simulated, publisher thread) → JetStream PP_TELEMETRY → ingester → Postgres
 *
 * Setup (not timed): its own `nats-server -js` and a fresh database, a real control
 * plane (`startControlPlane`, which migrates, sets up JetStream and runs the ingester
 * in-process exactly as in production), BENCH_AGENTS agents enrolled through the real
 * enroll responder, and every batch pre-built and pre-encoded (shaped like the `host`
 * probe's output). Then the publisher thread publishes them with JetStream, pipelined,
 * and the clock runs from the first publish until the ingester has committed every
 * sample. The baseline COPYs the very same rows (series_id, ts, value) from one
 * connection into `samples_bench_raw`, an identical partitioned table.
 *
 * Last line: `ingest: <N> samples/s end-to-end, raw COPY <M> samples/s, ratio <R>`.
 *
 * Environment (all optional):
 *   BENCH_SAMPLES      total samples to publish (default 4,000,000)
 *   BENCH_AGENTS       simulated agents (default 200)
 *   BENCH_INFLIGHT     JetStream publishes in flight (default 2048)
 *   BENCH_PUBLISHER    "worker" (default: its own thread, like agents on other hosts) or "inline"
 *   BENCH_BATCH_SIZE, BENCH_LINGER_MS, BENCH_INGESTERS, BENCH_INGEST_POOL, BENCH_BACKLOG
 *                      when any is set, the control plane's own ingester is turned off and the
 *                      bench runs BENCH_INGESTERS (default 1) ingesters itself, built as server.ts
 *                      builds it, with these options (for trying settings without editing src)
 *   BENCH_INGEST_POOL  give each bench-run ingester its own postgres.js pool of this size
 *                      (default: share the control plane's pool of 10, as server.ts does)
 *   BENCH_MAX_ACK_PENDING  lower the durable consumer's max_ack_pending (50,000 as ensureJetStream
 *                      creates it): a server-side cap on the batches an ingester holds unacked
 *   BENCH_BACKLOG=1    publish everything first, then start the (bench-run) ingesters and time the drain
 *                      only: the ingester without the publisher competing for the CPU (N is then a drain rate)
 *   BENCH_PG_SAMPLE_MS sample pg_stat_activity of the bench database every N ms during the
 *                      end-to-end phase and print where the ingester's backends spend their time (0: off)
 *   BENCH_STALL_S      fail when nothing is committed for this long (default 60)
 *   DATABASE_URL       server to create the throwaway database on (default postgres://postgres@127.0.0.1:5432/postgres)
 *   PP_TEST_LOG        control-plane log level (default silent)
 *   BENCH_MARKS        print the timed phases on the monotonic clock (to cut a `node --cpu-prof` profile)
 */
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import { performance } from "node:perf_hooks";
import { once } from "node:events";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { connect, type JetStreamClient, type NatsConnection } from "nats";
import { TELEMETRY_CONSUMER, TELEMETRY_STREAM } from "@probepilot/shared";
import { NkeyPair, nkeyAuthenticator } from "@probepilot/shared/nkeys";
import { INGESTER_PERMISSIONS } from "../src/nats/trust/permissions.ts";
import { teardownStack } from "@probepilot/testkit/teardown";

/** Absolute wall-clock ms with sub-ms precision, comparable across threads. */
const nowAbs = () => performance.timeOrigin + performance.now();

// ---------------------------------------------------------------------------------------------
// Publisher (runs in a worker thread by default, or inline)
// ---------------------------------------------------------------------------------------------

export type Encoded = { subject: string; msgId: string; data: Uint8Array; samples: number };
type PublishResult = { firstPublishAt: number; lastAckAt: number; batches: number; samples: number; failures: number; eventLoopUtilization: number; cpuSeconds: number };
type PublisherProgress = { ackedBatches: number; ackedSamples: number };

/**
 * Publish every batch with JetStream, keeping `inflight` publishes outstanding
 * (each carries a msgID, as the agent's publisher does). Publish failures (timeouts
 * under load) are retried, so every batch is stored exactly once.
 */
async function publishAll(js: JetStreamClient, batches: Encoded[], inflight: number, progress: (p: PublisherProgress) => void): Promise<PublishResult> {
  let next = 0;
  let ackedBatches = 0;
  let ackedSamples = 0;
  let failures = 0;
  let lastAckAt = 0;
  const firstPublishAt = nowAbs();
  const elu = performance.eventLoopUtilization();
  const cpu0 = threadCpuSeconds();
  let lastReport = 0;
  const lane = async () => {
    for (let i = next++; i < batches.length; i = next++) {
      const b = batches[i]!;
      for (let attempt = 0; ; attempt++) {
        try {
          // A retry may be answered `duplicate` (the first attempt was stored, its ack lost): that is fine.
          await js.publish(b.subject, b.data, { msgID: b.msgId, timeout: 30_000 });
          break;
        } catch (err) {
          failures++;
          if (attempt >= 10) throw err;
          await new Promise((r) => setTimeout(r, 100 * (attempt + 1)));
        }
      }
      ackedBatches++;
      ackedSamples += b.samples;
      lastAckAt = nowAbs();
      if (lastAckAt - lastReport > 200) {
        lastReport = lastAckAt;
        progress({ ackedBatches, ackedSamples });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(inflight, batches.length) }, lane));
  progress({ ackedBatches, ackedSamples });
  return { firstPublishAt, lastAckAt, batches: ackedBatches, samples: ackedSamples, failures, eventLoopUtilization: performance.eventLoopUtilization(elu).utilization, cpuSeconds: threadCpuSeconds() - cpu0 };
}

/**
 * Where and as whom the publisher connects: the tenant's simulator user, so that its
 * publishes take the agents' path (tenant account → platform stream, TLS).
 */
type PublisherNats = { natsUrl: string; caFile?: string; creds: { jwt: string; seed: string } };
type WorkerInput = PublisherNats & { batches: Encoded[]; inflight: number };

/** A connection as the tenant's simulator user (many agents' subjects over one connection, like agents on other hosts). */
function connectPublisher(p: PublisherNats): Promise<NatsConnection> {
  const key = NkeyPair.fromSeed(p.creds.seed);
  return connect({ servers: p.natsUrl, name: "bench-publisher", authenticator: nkeyAuthenticator(() => ({ jwt: p.creds.jwt, key })), ...(p.caFile ? { tls: { caFile: p.caFile } } : {}) });
}
type WorkerMessage = { type: "ready" } | { type: "progress"; progress: PublisherProgress } | { type: "done"; result: PublishResult } | { type: "error"; message: string };

async function publisherThread(): Promise<void> {
  const input = workerData as WorkerInput;
  const port = parentPort!;
  const post = (m: WorkerMessage) => port.postMessage(m);
  let nc: NatsConnection | null = null;
  try {
    nc = await connectPublisher(input);
    const js = nc.jetstream({ checkAPI: false });
    post({ type: "ready" });
    await new Promise<void>((resolve) => port.once("message", () => resolve()));
    const result = await publishAll(js, input.batches, input.inflight, (progress) => post({ type: "progress", progress }));
    post({ type: "done", result });
  } catch (err) {
    post({ type: "error", message: (err as Error).stack ?? String(err) });
  } finally {
    await nc?.drain().catch(() => {});
  }
}

// ---------------------------------------------------------------------------------------------
// Synthetic batches, shaped like the `host` probe (agent/src/probes/host/host-probe.ts)
// ---------------------------------------------------------------------------------------------

type SeriesShape = { metric: string; kind: "gauge" | "counter"; unit: string; labels: Record<string, string>; value: (r: () => number) => number };

const CPU_MODES = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"];
const DEVICES = ["nvme0n1", "sda"];
const INTERFACES = ["lo", "eth0", "docker0"];

/** The 63 series one `host` snapshot carries (same metrics, kinds, units and label sets). */
function hostSeriesShapes(): SeriesShape[] {
  const ratio = (r: () => number) => r();
  const bigCounter = (r: () => number) => Math.floor(r() * 1e12);
  const smallCounter = (r: () => number) => Math.floor(r() * 1e7);
  const seconds = (r: () => number) => Math.round(r() * 1e7) / 100;
  const out: SeriesShape[] = [];
  for (const mode of CPU_MODES) out.push({ metric: "host_cpu_utilization", kind: "gauge", unit: "ratio", labels: { mode }, value: ratio });
  out.push({ metric: "host_cpu_utilization_total", kind: "gauge", unit: "ratio", labels: {}, value: ratio });
  for (const mode of CPU_MODES) out.push({ metric: "host_cpu_seconds_total", kind: "counter", unit: "seconds", labels: { mode }, value: seconds });
  for (const state of ["total", "free", "available", "buffers", "cached", "used"]) out.push({ metric: "host_memory_bytes", kind: "gauge", unit: "bytes", labels: { state }, value: bigCounter });
  for (const state of ["total", "free", "used"]) out.push({ metric: "host_swap_bytes", kind: "gauge", unit: "bytes", labels: { state }, value: bigCounter });
  for (const m of ["host_load1", "host_load5", "host_load15"]) out.push({ metric: m, kind: "gauge", unit: "tasks", labels: {}, value: (r) => Math.round(r() * 800) / 100 });
  for (const device of DEVICES) {
    out.push({ metric: "host_disk_read_bytes_total", kind: "counter", unit: "bytes", labels: { device }, value: bigCounter });
    out.push({ metric: "host_disk_written_bytes_total", kind: "counter", unit: "bytes", labels: { device }, value: bigCounter });
    out.push({ metric: "host_disk_reads_total", kind: "counter", unit: "ops", labels: { device }, value: smallCounter });
    out.push({ metric: "host_disk_writes_total", kind: "counter", unit: "ops", labels: { device }, value: smallCounter });
    out.push({ metric: "host_disk_io_time_seconds_total", kind: "counter", unit: "seconds", labels: { device }, value: seconds });
  }
  for (const iface of INTERFACES) {
    for (const [m, unit, v] of [
      ["host_network_receive_bytes_total", "bytes", bigCounter],
      ["host_network_transmit_bytes_total", "bytes", bigCounter],
      ["host_network_receive_packets_total", "packets", smallCounter],
      ["host_network_transmit_packets_total", "packets", smallCounter],
      ["host_network_receive_errors_total", "errors", smallCounter],
      ["host_network_transmit_errors_total", "errors", smallCounter],
      ["host_network_receive_drops_total", "packets", smallCounter],
      ["host_network_transmit_drops_total", "packets", smallCounter],
    ] as const) {
      out.push({ metric: m, kind: "counter", unit, labels: { interface: iface }, value: v });
    }
  }
  return out;
}

/** Deterministic PRNG (mulberry32), so every run publishes the same shapes. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Batches for `agentIds`, round-robin (agent 0 seq 0, agent 1 seq 0, …), 1–5 points per
 * series, until exactly `totalSamples` (the last batch is cut short). Agents "produce in
 * real time" from `startMs` on: batch `seq` covers the second `startMs + seq * stepMs`
 * (stepMs ≤ 1 s keeps the newest point within the ingester's 10-minute clock-skew
 * allowance). Ingest runs faster than real time, so every point is at most seconds old
 * when it is written, as in steady state: none is "late" (older than the rollup lag,
 * which would make the ingester mark minutes for re-rollup).
 */
export function buildBatches(tenantId: string, agentIds: string[], totalSamples: number, startMs = Date.now() + 5_000): Encoded[] {
  const shapes = hostSeriesShapes();
  const rand = prng(42);
  const encoder = new TextEncoder();
  const avgPerBatch = shapes.length * 3;
  const batchesPerAgent = Math.ceil(totalSamples / avgPerBatch / agentIds.length) + 1;
  const stepMs = Math.min(1000, Math.floor(540_000 / batchesPerAgent));
  const out: Encoded[] = [];
  let remaining = totalSamples;
  for (let seq = 0; remaining > 0; seq++) {
    for (let a = 0; a < agentIds.length && remaining > 0; a++) {
      const agentId = agentIds[a]!;
      const second = startMs + seq * stepMs;
      const series = [];
      let samples = 0;
      for (const shape of shapes) {
        if (remaining - samples <= 0) break;
        const n = Math.min(1 + Math.floor(rand() * 5), remaining - samples);
        const points: [number, number][] = [];
        for (let p = 0; p < n; p++) points.push([second + Math.floor((p * stepMs) / n) + (a % 7), shape.value(rand)]);
        series.push({ metric: shape.metric, kind: shape.kind, unit: shape.unit, labels: shape.labels, points });
        samples += n;
      }
      remaining -= samples;
      const batch = { v: 1, tenantId, agentId, probe: "host", probeVersion: "builtin", seq, sentAt: second + stepMs, series, histograms: [], events: [], profiles: [] };
      out.push({ subject: `pp.tm.${tenantId}.${agentId}.host`, msgId: `${agentId}.host.${seq}`, data: encoder.encode(JSON.stringify(batch)), samples });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Resource accounting (CPU per component during the end-to-end phase)
// ---------------------------------------------------------------------------------------------

const CLK_TCK = 100;

/** utime + stime of a process in seconds, or null if it is gone / unreadable. */
async function procCpuSeconds(pid: number): Promise<number | null> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, "utf8");
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return null;
  }
}

/** CPU seconds of the calling thread (Linux /proc/thread-self), NaN elsewhere. */
function threadCpuSeconds(): number {
  try {
    const text = readFileSync("/proc/thread-self/stat", "utf8");
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** Busy and total jiffies of the whole machine (/proc/stat first line). */
async function machineCpu(): Promise<{ busy: number; total: number }> {
  const line = (await readFile("/proc/stat", "utf8")).split("\n")[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((s, x) => s + x, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: (total - idle) / CLK_TCK, total: total / CLK_TCK };
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

const hrMicros = () => Number(process.hrtime.bigint() / 1000n);
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const secs = (ms: number) => (ms / 1000).toFixed(1);
const say = (line: string) => process.stdout.write(`${line}\n`);

function intEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw.replaceAll("_", ""));
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, got ${JSON.stringify(raw)}`);
  return Math.floor(n);
}

async function main(): Promise<void> {
  // Imported here so that the publisher thread does not load the control plane.
  const postgres = (await import("postgres")).default;
  const { createTRPCClient, httpLink } = await import("@trpc/client");
  const { retentionOf } = await import("../src/env.ts");
  const { createLogger } = await import("../src/logger.ts");
  const { createTelemetryIngester } = await import("../src/ingest/telemetry-ingester.ts");
  const { createIngestMetrics } = await import("../src/ingest/ingest-metrics.ts");
  const { labelsKey } = await import("../src/ingest/series-registry.ts");
  const { startHarness } = await import("@probepilot/testkit/control-plane-harness");
  const { simulatorCreds } = await import("@probepilot/testkit/simulator-creds");
  const { enrollAgents } = await import("@probepilot/testkit/fake-hello");
  type AppRouter = import("../src/trpc/app-router.ts").AppRouter;

  const cfg = {
    samples: intEnv("BENCH_SAMPLES", 4_000_000),
    agents: intEnv("BENCH_AGENTS", 200),
    inflight: intEnv("BENCH_INFLIGHT", 2048),
    publisher: process.env.BENCH_PUBLISHER === "inline" ? ("inline" as const) : ("worker" as const),
    batchSize: process.env.BENCH_BATCH_SIZE ? intEnv("BENCH_BATCH_SIZE", 500) : undefined,
    lingerMs: process.env.BENCH_LINGER_MS ? intEnv("BENCH_LINGER_MS", 50) : undefined,
    ingesters: process.env.BENCH_INGESTERS ? intEnv("BENCH_INGESTERS", 1) : undefined,
    pgSampleMs: intEnv("BENCH_PG_SAMPLE_MS", 0),
    stallMs: intEnv("BENCH_STALL_S", 60) * 1000,
    backlog: process.env.BENCH_BACKLOG === "1",
    ingestPool: process.env.BENCH_INGEST_POOL ? intEnv("BENCH_INGEST_POOL", 1) : undefined,
    maxAckPending: process.env.BENCH_MAX_ACK_PENDING ? intEnv("BENCH_MAX_ACK_PENDING", 1000) : undefined,
  };
  if (cfg.samples < 1 || cfg.agents < 1 || cfg.inflight < 1 || cfg.ingesters === 0 || cfg.ingestPool === 0) {
    throw new Error("BENCH_SAMPLES, BENCH_AGENTS, BENCH_INFLIGHT, BENCH_INGESTERS and BENCH_INGEST_POOL must be at least 1");
  }
  const ownIngesters = cfg.batchSize !== undefined || cfg.lingerMs !== undefined || cfg.ingesters !== undefined || cfg.backlog || cfg.ingestPool !== undefined;

  // Teardown, newest first; also on Ctrl-C.
  const { cleanups, cleanup } = teardownStack();
  let interrupted = false;
  const onSignal = (sig: NodeJS.Signals) => {
    interrupted = true;
    process.stderr.write(`\n${sig}: cleaning up (the control plane first finishes the writes it has queued)\n`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  let finalLine: string;
  try {
    say(`bench:ingest: ${fmt(cfg.samples)} samples from ${cfg.agents} agents, ${cfg.inflight} publishes in flight, publisher ${cfg.publisher}, ` +
      (ownIngesters ? `${cfg.ingesters ?? 1} bench-run ingester(s) batchSize=${cfg.batchSize ?? "default"} lingerMs=${cfg.lingerMs ?? "default"} pool=${cfg.ingestPool ?? "control plane's"}${cfg.backlog ? ", backlog mode" : ""}` : "control plane's own ingester (defaults)"));

    // --- Setup (not timed) ------------------------------------------------------------------
    // The control plane as users run it: nats-server in operator mode with TLS, every
    // process on its own NATS user (test support's harness, with the defaults of production).
    const log = createLogger(process.env.PP_TEST_LOG ?? "silent");
    const h = await startHarness({ PROBEPILOT_LOG_LEVEL: "silent", PROBEPILOT_SWEEP_INTERVAL_MS: "2000", PROBEPILOT_INGEST: ownIngesters ? "off" : "on" }, { log });
    cleanups.push({ name: "stop control plane, nats-server, database", run: () => h.stop() });
    const { cp, nats, database } = h;
    say(`setup: nats-server ${nats.url} (operator mode, TLS), database ${database.name}, control plane ${cp.url}`);

    if (cfg.maxAckPending !== undefined) {
      // A server-side bound on what the ingesters may hold unacked (ensureJetStream sets 50,000).
      const jsm = await cp.nc.jetstreamManager();
      await jsm.consumers.update(TELEMETRY_STREAM, TELEMETRY_CONSUMER, { max_ack_pending: cfg.maxAckPending });
      say(`setup: ${TELEMETRY_CONSUMER} max_ack_pending set to ${cfg.maxAckPending}`);
    }

    // Ingest metrics: the control plane's own, or those of the bench-run ingesters.
    const ingesters: { start: () => void; stop: () => Promise<void> }[] = [];
    if (ownIngesters) {
      const ingestMetrics = createIngestMetrics(cp.metrics.registry, cp.metrics.deadLetters);
      for (let i = 0; i < (cfg.ingesters ?? 1); i++) {
        // Each bench-run ingester gets its own pool of BENCH_INGEST_POOL connections, or shares the control plane's (10).
        let sql = cp.db.sql;
        if (cfg.ingestPool !== undefined) {
          const own = postgres(database.url, { max: cfg.ingestPool, onnotice: () => {} });
          cleanups.push({ name: `close ingester ${i} pool`, run: () => own.end({ timeout: 5 }) });
          sql = own;
        }
        const ingester = createTelemetryIngester({
          nc: await cp.mesh.connectAs("platform", "bench-ingester", INGESTER_PERMISSIONS),
          sql,
          log: log.child({ component: `bench-ingester-${i}` }),
          metrics: ingestMetrics,
          maxAgeMs: retentionOf(h.env).rawMs,
          batchSize: cfg.batchSize,
          lingerMs: cfg.lingerMs,
        });
        if (!cfg.backlog) ingester.start();
        ingesters.push(ingester);
        cleanups.push({ name: `stop bench ingester ${i}`, run: () => ingester.stop() });
      }
    }
    const metricValue = async (name: string, suffix = ""): Promise<number> => {
      const m = cp.metrics.registry.getSingleMetric(name);
      if (!m) return 0;
      const got = await m.get();
      return got.values.filter((v) => (v as { metricName?: string }).metricName === undefined || (v as { metricName?: string }).metricName === name + suffix).reduce((s, v) => s + v.value, 0);
    };
    const committedSamples = () => metricValue("probepilot_ingest_samples_total");

    const client = createTRPCClient<AppRouter>({ links: [httpLink({ url: `${cp.url}/trpc`, headers: () => ({ authorization: `Bearer ${cp.bootstrap!.token}` }) })] });
    const { token } = await client.enrollTokens.create.mutate({});
    let t = performance.now();
    const { tenantId, agents } = await enrollAgents(cp.url, token, cfg.agents, { prefix: "bench", concurrency: 25 });
    say(`setup: enrolled ${agents.length} agents over the control plane's enroll route in ${secs(performance.now() - t)} s`);
    const publisherNats: PublisherNats = { natsUrl: nats.url, ...(nats.caFile ? { caFile: nats.caFile } : {}), creds: await simulatorCreds(h) };

    t = performance.now();
    const batches = buildBatches(tenantId, agents.map((a) => a.agentId), cfg.samples);
    const totalSamples = batches.reduce((s, b) => s + b.samples, 0);
    const totalBytes = batches.reduce((s, b) => s + b.data.byteLength, 0);
    say(`setup: built ${fmt(batches.length)} batches (${fmt(totalSamples)} samples, ${(totalBytes / 1024 ** 2).toFixed(0)} MiB JSON, ${(totalBytes / batches.length / 1024).toFixed(1)} KiB and ${(totalSamples / batches.length).toFixed(0)} samples per batch) in ${secs(performance.now() - t)} s`);

    // A monitor connection (not the ingester's pool) for checks and Postgres-side accounting.
    const monitor = postgres(database.url, { max: 1, onnotice: () => {} });
    cleanups.push({ name: "close monitor connection", run: () => monitor.end({ timeout: 5 }) });

    // The publisher, ready to go.
    let publish: () => Promise<PublishResult>;
    let ackedSamples = 0;
    if (cfg.publisher === "worker") {
      // The thread runs this file again, through tsx's API: on Node 20 a worker does not get
      // the `--import` loader hooks before its entry module is loaded.
      const entry = `import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))}).then((tsx) => tsx.tsImport(${JSON.stringify(import.meta.url)}, ${JSON.stringify(import.meta.url)}))`;
      const worker = new Worker(entry, { eval: true, workerData: { ...publisherNats, batches, inflight: cfg.inflight } satisfies WorkerInput });
      cleanups.push({ name: "stop publisher thread", run: () => worker.terminate() });
      const done = new Promise<PublishResult>((resolve, reject) => {
        worker.on("message", (m: WorkerMessage) => {
          if (m.type === "progress") ackedSamples = m.progress.ackedSamples;
          else if (m.type === "done") resolve(m.result);
          else if (m.type === "error") reject(new Error(`publisher: ${m.message}`));
        });
        worker.once("error", reject);
        worker.once("exit", (code) => reject(new Error(`publisher thread exited with ${code}`)));
      });
      await new Promise<void>((resolve, reject) => {
        const onMessage = (m: WorkerMessage) => m.type === "ready" && (worker.off("message", onMessage), resolve());
        worker.on("message", onMessage);
        done.catch(reject);
      });
      publish = () => {
        worker.postMessage("go");
        return done;
      };
    } else {
      const pubNc = await connectPublisher(publisherNats);
      cleanups.push({ name: "close publisher connection", run: () => pubNc.close() });
      publish = () => publishAll(pubNc.jetstream({ checkAPI: false }), batches, cfg.inflight, (p) => (ackedSamples = p.ackedSamples));
    }

    // Start from a clean slate: dirty buffers of the setup flushed.
    await monitor`checkpoint`;

    // --- End-to-end (timed) -----------------------------------------------------------------
    const pgPids = async () => await monitor<{ pid: number; backend_type: string }[]>`select pid, backend_type from pg_stat_activity where datname = ${database.name} or backend_type in ('walwriter', 'checkpointer', 'background writer')`;
    const committedAtStart = await committedSamples();
    let publishError: unknown = null;
    const published = publish();
    published.catch((err) => (publishError = err ?? new Error("publisher failed")));
    const t0 = nowAbs();
    let lastProgress = t0;
    let committed = 0;
    const progress = (now: number) => {
      if (now - lastProgress < 1000) return;
      lastProgress = now;
      const el = (now - t0) / 1000;
      say(`[${el.toFixed(1).padStart(5)} s] published ${fmt(ackedSamples).padStart(11)} samples (${fmt(ackedSamples / el).padStart(9)}/s)  committed ${fmt(committed).padStart(11)} (${fmt(committed / el).padStart(9)}/s)  ${((committed / totalSamples) * 100).toFixed(0).padStart(3)}%`);
    };
    if (cfg.backlog) {
      // Backlog mode: everything is in the stream before the ingesters start; the clock starts with them.
      while (!(await Promise.race([published.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 100))]))) progress(nowAbs());
      say(`backlog: ${fmt(totalSamples)} samples in the stream; starting ${ingesters.length} ingester(s)`);
    }

    // Accounting starts here (with the publisher in normal mode, after it in backlog mode).
    const cpuBefore = { node: process.cpuUsage(), mainThread: threadCpuSeconds(), nats: await procCpuSeconds(nats.process.pid!), machine: await machineCpu(), pg: new Map<number, number>() };
    for (const p of await pgPids()) cpuBefore.pg.set(p.pid, (await procCpuSeconds(p.pid)) ?? 0);
    const mainEluStart = performance.eventLoopUtilization();
    const writesBefore = { count: await metricValue("probepilot_ingest_write_seconds", "_count"), sum: await metricValue("probepilot_ingest_write_seconds", "_sum") };

    // Optional: sample what the bench database's backends are doing.
    const activity = new Map<string, number>();
    let activitySamples = 0;
    let sampling = cfg.pgSampleMs > 0;
    let sampler: Promise<void> = Promise.resolve();
    if (sampling) {
      const probe = postgres(database.url, { max: 1, onnotice: () => {} });
      cleanups.push({ name: "close activity sampler", run: () => probe.end({ timeout: 5 }) });
      sampler = (async () => {
        while (sampling) {
          const rows = await probe<{ what: string }[]>`
            select case
              when state = 'active' then 'active: ' || coalesce(wait_event_type || '/' || wait_event, 'CPU') || ': ' || regexp_replace(left(ltrim(query), 60), '\\s+', ' ', 'g')
              else state || coalesce(' (' || wait_event || ')', '') end as what
            from pg_stat_activity where datname = ${database.name} and pid <> pg_backend_pid() and backend_type = 'client backend'`;
          activitySamples++;
          for (const r of rows) activity.set(r.what, (activity.get(r.what) ?? 0) + 1);
          await new Promise((r) => setTimeout(r, cfg.pgSampleMs));
        }
      })();
    }

    const ingestStart = nowAbs();
    if (cfg.backlog) for (const i of ingesters) i.start();
    let lastCommitted = -1;
    let lastChange = ingestStart;
    let peakHeap = 0;
    let peakRss = 0;
    // How far the ingester runs ahead of its commits: messages delivered to it and not yet acked.
    const jsm = await cp.nc.jetstreamManager();
    let peakAckPending = 0;
    let lastConsumerInfo = 0;
    for (;;) {
      await new Promise((r) => setTimeout(r, 10));
      if (publishError) throw publishError;
      if (interrupted) throw new Error("interrupted");
      committed = (await committedSamples()) - committedAtStart;
      const now = nowAbs();
      if (committed !== lastCommitted) ((lastCommitted = committed), (lastChange = now));
      if (committed >= totalSamples) break;
      if (now - lastChange > cfg.stallMs) {
        const dead = await metricValue("probepilot_dead_letters_total");
        throw new Error(`stalled: ${fmt(committed)} of ${fmt(totalSamples)} samples committed, nothing new for ${secs(cfg.stallMs)} s (${dead} dead letters)`);
      }
      progress(now);
      const mem = process.memoryUsage();
      peakHeap = Math.max(peakHeap, mem.heapUsed);
      peakRss = Math.max(peakRss, mem.rss);
      if (now - lastConsumerInfo > 250) {
        lastConsumerInfo = now;
        const info = await jsm.consumers.info(TELEMETRY_STREAM, TELEMETRY_CONSUMER).catch(() => null);
        if (info) peakAckPending = Math.max(peakAckPending, info.num_ack_pending);
      }
    }
    const tEnd = nowAbs();
    const pub = await published;
    sampling = false;
    await sampler;
    const clockStart = cfg.backlog ? ingestStart : pub.firstPublishAt;
    const e2eMs = tEnd - clockStart;
    const e2eMark = [hrMicros() - Math.round((nowAbs() - clockStart) * 1000), hrMicros() - Math.round((nowAbs() - tEnd) * 1000)];
    const N = totalSamples / (e2eMs / 1000);
    const pubMs = pub.lastAckAt - pub.firstPublishAt;

    // Postgres-side and per-component CPU over the phase.
    const cpuNode = process.cpuUsage(cpuBefore.node);
    const cpuMain = threadCpuSeconds() - cpuBefore.mainThread;
    const natsCpu = ((await procCpuSeconds(nats.process.pid!)) ?? 0) - (cpuBefore.nats ?? 0);
    const machine = await machineCpu();
    let pgBackends = 0;
    let pgAux = 0;
    for (const p of await pgPids()) {
      const used = ((await procCpuSeconds(p.pid)) ?? 0) - (cpuBefore.pg.get(p.pid) ?? 0);
      if (p.backend_type === "client backend") pgBackends += used;
      else pgAux += used;
    }
    const mainElu = performance.eventLoopUtilization(mainEluStart).utilization;
    const writes = { count: (await metricValue("probepilot_ingest_write_seconds", "_count")) - writesBefore.count, sum: (await metricValue("probepilot_ingest_write_seconds", "_sum")) - writesBefore.sum };
    const storedBatches = await metricValue("probepilot_ingest_batches_total");
    const deadLetters = await metricValue("probepilot_dead_letters_total");

    // Check against Postgres itself (not timed).
    const [ledger] = await monitor<{ samples: string; batches: string }[]>`select coalesce(sum(samples), 0)::text as samples, count(*)::text as batches from ingest_ledger`;
    const [rows] = await monitor<{ n: string }[]>`select count(*)::text as n from samples`;
    if (Number(ledger!.samples) !== totalSamples || Number(rows!.n) !== totalSamples) {
      throw new Error(`count mismatch: published ${totalSamples}, ledger says ${ledger!.samples}, samples has ${rows!.n}`);
    }

    const wallS = e2eMs / 1000;
    say(`${cfg.backlog ? "backlog drain" : "end-to-end"}: ${fmt(totalSamples)} samples (${fmt(batches.length)} batches) committed in ${wallS.toFixed(2)} s → ${fmt(N)} samples/s; ` +
      `publish-only ${(pubMs / 1000).toFixed(2)} s → ${fmt(totalSamples / (pubMs / 1000))} samples/s, ${fmt(batches.length / (pubMs / 1000))} batches/s${pub.failures ? `, ${pub.failures} publish retries` : ""}`);
    say(`  consumer: at most ${fmt(peakAckPending)} batches delivered to the ingester and not yet acked (${fmt((peakAckPending * totalSamples) / batches.length)} samples held in memory)`);
    say(`  memory: peak JS heap ${(peakHeap / 1024 ** 2).toFixed(0)} MiB, peak RSS ${(peakRss / 1024 ** 2).toFixed(0)} MiB (bench process: control plane, ingester, publisher thread and the pre-built batches)`);
    say(`  checked: ledger ${ledger!.batches} batches / ${ledger!.samples} samples, samples table ${rows!.n} rows; dead letters ${deadLetters}`);
    say(`  ingester: ${fmt(writes.count)} micro-batches (${(storedBatches / Math.max(1, writes.count)).toFixed(0)} batches, ${fmt(totalSamples / Math.max(1, writes.count))} samples each on average), ` +
      `write() ${(writes.sum).toFixed(2)} s total = ${((writes.sum / wallS) * 100).toFixed(0)}% of the wall time, ${((writes.sum / Math.max(1, writes.count)) * 1000).toFixed(0)} ms mean`);
    const nodeCpu = (cpuNode.user + cpuNode.system) / 1e6;
    const pubCpu = cfg.publisher === "worker" && !cfg.backlog ? pub.cpuSeconds : 0;
    say(`  cpu seconds over ${wallS.toFixed(1)} s: node ${nodeCpu.toFixed(1)} = main thread (control plane + ingester) ${cpuMain.toFixed(1)} + publisher thread ${cfg.publisher === "worker" ? pubCpu.toFixed(1) : "(inline)"} + GC/libuv threads ${(nodeCpu - cpuMain - pubCpu).toFixed(1)} ` +
      `[event loop busy: main ${(mainElu * 100).toFixed(0)}%, publisher ${(pub.eventLoopUtilization * 100).toFixed(0)}% of its ${(pubMs / 1000).toFixed(1)} s], ` +
      `nats-server ${natsCpu.toFixed(1)}, postgres backends ${pgBackends.toFixed(1)}, postgres walwriter/checkpointer/bgwriter ${pgAux.toFixed(1)}; ` +
      `machine busy ${(machine.busy - cpuBefore.machine.busy).toFixed(1)} of ${(machine.total - cpuBefore.machine.total).toFixed(1)} core-s ` +
      `(other processes ≈ ${Math.max(0, machine.busy - cpuBefore.machine.busy - (cpuNode.user + cpuNode.system) / 1e6 - natsCpu - pgBackends - pgAux).toFixed(1)})`);
    if (activitySamples > 0) {
      say(`  postgres client backends of this database, sampled every ${cfg.pgSampleMs} ms (${activitySamples} samples; share of samples, a backend per row):`);
      for (const [what, n] of [...activity].sort((a, b) => b[1] - a[1]).slice(0, 15)) say(`    ${((n / activitySamples) * 100).toFixed(1).padStart(5)}%  ${what}`);
    }

    // --- Raw COPY baseline (timed: the COPY and its commit) ---------------------------------
    // The control plane is done: stop it (ingesters, rollup worker, sweeper) so that its
    // background work does not run into the baseline.
    for (const i of ingesters) await i.stop();
    await cp.stop();
    // An identical table: same columns, same daily partitions, same (series_id, ts) index.
    const parts = await monitor<{ name: string; bound: string }[]>`
      select c.relname as name, pg_get_expr(c.relpartbound, c.oid) as bound from pg_inherits i
      join pg_class c on c.oid = i.inhrelid join pg_class p on p.oid = i.inhparent where p.relname = 'samples'`;
    await monitor.unsafe(`create table samples_bench_raw (series_id bigint not null, ts bigint not null, value double precision not null) partition by range (ts)`);
    await monitor.unsafe(`create index samples_bench_raw_series_ts_idx on samples_bench_raw (series_id, ts)`);
    for (const p of parts) await monitor.unsafe(`create table "${p.name.replace(/^samples_/, "samples_bench_raw_")}" partition of samples_bench_raw ${p.bound}`);

    // The same rows, formatted as the ingester formats them, with the ids it assigned.
    t = performance.now();
    const ids = new Map<string, number>();
    for (const r of await monitor<{ id: string; agent_id: string; metric: string; labels_key: string }[]>`select id::text, agent_id, metric, labels_key from series where probe = 'host'`) {
      ids.set(`${r.agent_id}\u0001${r.metric}\u0001${r.labels_key}`, Number(r.id));
    }
    const chunks: Buffer[] = [];
    const decoder = new TextDecoder();
    let text = "";
    let rawRows = 0;
    for (const b of batches) {
      const batch = JSON.parse(decoder.decode(b.data)) as { agentId: string; series: { metric: string; labels: Record<string, string>; points: [number, number][] }[] };
      for (const s of batch.series) {
        const id = ids.get(`${batch.agentId}\u0001${s.metric}\u0001${labelsKey(s.labels)}`);
        if (id === undefined) throw new Error(`no series id for ${batch.agentId}/${s.metric}/${labelsKey(s.labels)}`);
        const prefix = `${id}\t`;
        for (const [ts, v] of s.points) text += prefix + ts + "\t" + v + "\n"; // the same text as the ingester's `${id}\t${ts}\t${v}\n`
        rawRows += s.points.length;
      }
      if (text.length > 1 << 20) ((chunks.push(Buffer.from(text)), (text = "")));
    }
    if (text) chunks.push(Buffer.from(text));
    say(`raw COPY: ${fmt(rawRows)} rows (${(chunks.reduce((s, c) => s + c.length, 0) / 1024 ** 2).toFixed(0)} MiB of COPY text) prepared in ${secs(performance.now() - t)} s; ${parts.length} partitions`);

    const raw = postgres(database.url, { max: 1, onnotice: () => {} });
    cleanups.push({ name: "close raw COPY connection", run: () => raw.end({ timeout: 5 }) });
    await raw`select 1`; // connect before the clock starts
    await monitor`checkpoint`;
    const rawCpuBefore = new Map<number, number>();
    for (const p of await pgPids()) rawCpuBefore.set(p.pid, (await procCpuSeconds(p.pid)) ?? 0);
    const r0 = performance.now();
    await raw.begin(async (tx) => {
      const w = await tx`copy samples_bench_raw (series_id, ts, value) from stdin`.writable();
      const failed = new Promise<never>((_, reject) => w.once("error", reject));
      for (const c of chunks) if (!w.write(c)) await Promise.race([once(w, "drain"), failed]);
      w.end();
      await Promise.race([once(w, "finish"), failed]);
    });
    const rawMs = performance.now() - r0;
    if (process.env.BENCH_MARKS) say(`marks (monotonic µs, as in .cpuprofile): end-to-end ${e2eMark[0]} ${e2eMark[1]}, raw COPY ${hrMicros() - Math.round(rawMs * 1000)} ${hrMicros()}`);
    let rawPg = 0;
    for (const p of await pgPids()) if (p.backend_type === "client backend") rawPg += ((await procCpuSeconds(p.pid)) ?? 0) - (rawCpuBefore.get(p.pid) ?? 0);
    const [rawCount] = await monitor<{ n: string }[]>`select count(*)::text as n from samples_bench_raw`;
    if (Number(rawCount!.n) !== totalSamples) throw new Error(`raw COPY stored ${rawCount!.n} rows, expected ${totalSamples}`);
    const M = totalSamples / (rawMs / 1000);
    say(`raw COPY: ${fmt(totalSamples)} rows in ${(rawMs / 1000).toFixed(2)} s → ${fmt(M)} samples/s (postgres backend cpu ${rawPg.toFixed(1)} s)`);

    finalLine = `ingest: ${Math.round(N)} samples/s end-to-end, raw COPY ${Math.round(M)} samples/s, ratio ${(N / M).toFixed(2)}`;
  } finally {
    await cleanup();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  say(finalLine);
}

if (!isMainThread) {
  void publisherThread();
} else if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  // Run directly (not imported for its batch builder).
  main().then(
    () => process.exit(0),
    (err) => {
      process.stderr.write(`bench:ingest failed: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
