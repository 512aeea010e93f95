import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KV, NatsConnection } from "nats";
import { TELEMETRY_STREAM, TelemetryBatchSchema, policyBucket, telemetrySubject, type AgentTelemetryStatus, type Policy, type TelemetryBatch } from "@probepilot/shared";
import { startHarness, type Harness } from "@probepilot/testkit/control-plane-harness";
import { metricValue } from "@probepilot/testkit/metrics-text";
import { waitFor } from "@probepilot/testkit/poll";
import { StatusTap, realHello, startInProcessAgent, tempDir, type InProcessAgent } from "../support/in-process-agent.ts";

/**
 * Data flow 3's reliability promise: nats-server stopped for 30 s while an agent
 * produces telemetry (the host probe every 200 ms through a policy). The agent
 * spools to disk, reports the backlog, and after NATS returns replays it: every
 * batch reaches PP_TELEMETRY once, in order, seq contiguous. A restarted agent
 * continues its sequence above the previous run's.
 */

const OUTAGE_MS = 30_000;
const INTERVAL_MS = 200;

let h: Harness;
let ops: NatsConnection;
let dir: { dir: string; remove: () => Promise<void> };
let a: InProcessAgent | undefined;
let status: StatusTap;
let hello: Awaited<ReturnType<typeof realHello>>;
let subject: string;
let agentId: string;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  h = await startHarness();
  dir = await tempDir("pp-outage-");
  ops = await h.platformNats("pp-test-ops");
  status = new StatusTap(ops);
  const enrollToken = (await h.client().enrollTokens.create.mutate({ description: "telemetry outage" })).token;
  hello = await realHello({ suite: "outage" });
  a = await startInProcessAgent({ ...h.agentEndpoints, dataDir: dir.dir, hello, enrollToken });
  agentId = a.agentId;
  subject = telemetrySubject(a.tenantId, a.agentId, "host");
  const policy: Policy = {
    policyId: "pol_outage",
    rolloutId: "rol_outage",
    probe: { kind: "host", version: "outage-v1", specHash: "sha256:outage-v1", params: { intervalMs: INTERVAL_MS } },
    selector: "suite=outage",
    stage: { cutBasisPoints: 10_000, agentIds: [] },
    revision: 0,
    updatedAt: Date.now(),
  };
  const kv: KV = await (await h.cp.mesh.tenant(a.tenantId)).jetstream().views.kv(policyBucket(a.tenantId), { bindOnly: true });
  await kv.put(policy.policyId, JSON.stringify(policy));
});

afterAll(async () => {
  status?.stop();
  await a?.stop();
  await ops?.close();
  await h?.stop();
  await dir?.remove();
});

/** Every batch stored in PP_TELEMETRY for this agent's host probe, in stream order (a fresh ordered consumer each time). */
async function storedBatches(): Promise<TelemetryBatch[]> {
  const jsm = await ops.jetstreamManager();
  const info = await jsm.streams.info(TELEMETRY_STREAM, { subjects_filter: subject });
  const total = info.state.subjects?.[subject] ?? 0;
  const out: TelemetryBatch[] = [];
  if (total === 0) return out;
  const consumer = await ops.jetstream().consumers.get(TELEMETRY_STREAM, { filterSubjects: subject });
  while (out.length < total) {
    const msgs = await consumer.fetch({ max_messages: Math.min(total - out.length, 256), expires: 2000 });
    let got = 0;
    for await (const m of msgs) {
      out.push(TelemetryBatchSchema.parse(m.json()));
      got++;
    }
    if (got === 0) throw new Error(`PP_TELEMETRY holds ${total} messages on ${subject} but only ${out.length} could be read`);
  }
  return out;
}

/** The agent's telemetry counter for one outcome (published, spooled, replayed, dropped, oversize). */
async function outcome(agent: InProcessAgent, name: string): Promise<number> {
  return metricValue(await agent.metrics.registry.metrics(), "probepilot_agent_telemetry_batches_total", { probe: "host", outcome: name });
}

function expectContiguous(seqs: number[], from: number): void {
  expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => from + i));
}

describe("telemetry across a NATS outage", () => {
  it(`NATS stopped for ${OUTAGE_MS / 1000} s: the agent spools and reports it, then every batch arrives once, in order`, async () => {
    const agent = a!;
    await waitFor(async () => (agent.agent.probeStatuses().find((p) => p.kind === "host" && p.policyId === "pol_outage" && p.state === "running") ? true : undefined), {
      what: "the host probe running for pol_outage",
    });
    await waitFor(async () => ((await storedBatches()).length >= 5 ? true : undefined), { what: "5 host batches stored before the outage" });

    // --- outage --------------------------------------------------------------
    await h.nats.halt();
    const downAt = Date.now();
    await waitFor(async () => agent.natsEvents.find((e) => e.type === "disconnect" && e.at >= downAt - 1000), { what: "the agent to see the disconnect" });
    // From here on no ack can arrive: nothing may count as published until NATS is back.
    const publishedBefore = await outcome(agent, "published");
    const reported: AgentTelemetryStatus[] = [];
    let spoolBytesMetric = 0;
    while (Date.now() - downAt < OUTAGE_MS) {
      await sleep(500);
      // What every heartbeat carries (heartbeats themselves cannot get out now; this is their content).
      const t = agent.agent.statusState().telemetry;
      if (t) reported.push(t);
      spoolBytesMetric = Math.max(spoolBytesMetric, metricValue(await agent.metrics.registry.metrics(), "probepilot_agent_spool_bytes"));
    }
    const spooled = await outcome(agent, "spooled");
    const atEnd = agent.agent.telemetryStats()!; // read after the counter: at most one more batch spooled in between

    // The backlog grew through the outage, was reported, and nothing was dropped.
    expect(reported.length).toBeGreaterThan(50);
    const spooledSeries = reported.map((t) => t.spooledBatches);
    for (let i = 1; i < spooledSeries.length; i++) expect(spooledSeries[i]!).toBeGreaterThanOrEqual(spooledSeries[i - 1]!);
    expect(reported.every((t) => t.droppedBatches === 0 && t.droppedBytes === 0)).toBe(true);
    expect(reported.at(-1)!.spooledBatches).toBeGreaterThan(0);
    expect(reported.at(-1)!.spooledBatches).toBeLessThanOrEqual(atEnd.spooledBatches);
    // 30 s at one batch per 200 ms is 150; allow a slow shared machine half of that.
    expect(atEnd.spooledBatches).toBeGreaterThan(OUTAGE_MS / INTERVAL_MS / 2);
    expect(atEnd.spooledBatches - spooled).toBeGreaterThanOrEqual(0);
    expect(atEnd.spooledBatches - spooled).toBeLessThanOrEqual(1);
    expect(spoolBytesMetric).toBeGreaterThan(0);
    expect(spoolBytesMetric).toBeLessThanOrEqual(atEnd.spooledBytes);
    expect(await outcome(agent, "published")).toBe(publishedBefore); // nothing was published while NATS was down

    // --- NATS returns ----------------------------------------------------------
    await h.nats.start();
    const upAt = Date.now();
    const reconnect = await waitFor(async () => agent.natsEvents.find((e) => e.type === "reconnect" && e.at >= upAt - 1000), { what: "the agent to reconnect", timeoutMs: 15_000 });
    await waitFor(async () => (agent.agent.telemetryStats()!.spooledBatches === 0 ? true : undefined), {
      what: "the spool to drain",
      timeoutMs: 30_000,
      intervalMs: 20,
      debug: () => JSON.stringify(agent.agent.telemetryStats()),
    });
    const drainedAt = Date.now();
    // Heartbeats get out again and carry the (now empty) spool.
    const heartbeat = await waitFor(async () => {
      const s = status.latest(agentId);
      return s && s.at > drainedAt && s.telemetry ? s : undefined;
    }, { what: "a heartbeat after the drain" });
    expect(heartbeat.telemetry).toEqual({ spooledBatches: 0, spooledBytes: 0, droppedBatches: 0, droppedBytes: 0 });

    // Stop the agent so that "produced" is final; a healthy connection leaves nothing in the spool.
    await agent.stop();
    a = undefined;
    const final = agent.agent.telemetryStats()!;
    expect(final).toMatchObject({ spooledBatches: 0, droppedBatches: 0, droppedBytes: 0 });
    const produced = (await outcome(agent, "published")) + (await outcome(agent, "spooled"));
    expect(await outcome(agent, "replayed")).toBe(await outcome(agent, "spooled"));
    expect(final.replayedBatches).toBe(await outcome(agent, "spooled"));
    expect(await outcome(agent, "dropped")).toBe(0);

    // Every batch arrived, in order, none missing, none twice.
    const stored = await storedBatches();
    const seqs = stored.map((b) => b.seq);
    expect(stored.length).toBe(produced);
    expect(new Set(seqs).size).toBe(stored.length);
    expectContiguous(seqs, 0);
    for (let i = 1; i < stored.length; i++) expect(stored[i]!.sentAt).toBeGreaterThanOrEqual(stored[i - 1]!.sentAt);
    expect(stored.every((b) => b.agentId === agentId && b.probeVersion === "outage-v1")).toBe(true);
    // Batches produced during the outage are there: sent while NATS was down, stored after.
    const duringOutage = stored.filter((b) => b.sentAt > downAt && b.sentAt < upAt);
    // All but a batch whose publish was in flight when the server went away (sent just before, spooled after its ack timed out).
    expect(duringOutage.length).toBeGreaterThanOrEqual(spooled - 1);
    console.info(
      `[telemetry-outage] outage ${((upAt - downAt) / 1000).toFixed(1)} s: ${spooled} batches spooled (${atEnd.spooledBytes} bytes), ` +
        `${duringOutage.length} sent during the outage; drained ${spooled} in ${drainedAt - reconnect.at} ms after the reconnect ` +
        `(${upAt - downAt + (reconnect.at - upAt)} ms down); ${stored.length} stored, seq 0..${seqs.at(-1)}`,
    );
  }, 120_000);

  it("an agent restarted on the same data dir continues its sequence above the previous run's", async () => {
    await h.nats.start(); // a no-op unless the previous test failed during the outage
    const before = await storedBatches();
    const previousMax = Math.max(...before.map((b) => b.seq));
    a = await startInProcessAgent({ ...h.agentEndpoints, dataDir: dir.dir, hello });
    expect(a.agentId).toBe(agentId); // re-identified, not re-enrolled
    const after = await waitFor(async () => {
      const all = await storedBatches();
      return all.length >= before.length + 5 ? all : undefined;
    }, { what: "5 batches from the restarted agent" });
    const second = after.slice(before.length);
    expect(second[0]!.seq).toBeGreaterThan(previousMax);
    expectContiguous(second.map((b) => b.seq), second[0]!.seq);
    // Nothing of the first run was re-sent or lost.
    expect(after.slice(0, before.length)).toEqual(before);
    expect(new Set(after.map((b) => b.seq)).size).toBe(after.length);
  });

  it("past the spool bound the oldest batches are dropped, counted on /metrics and reported in the status", async () => {
    await a?.stop();
    // A bound of about four host batches (each ~9 KB here): segments of a quarter of it hold one batch each.
    const spoolMaxBytes = 40_000;
    a = await startInProcessAgent({ ...h.agentEndpoints, dataDir: dir.dir, hello, spoolMaxBytes });
    const agent = a;
    const before = await storedBatches();
    await waitFor(async () => ((await storedBatches()).length >= before.length + 3 ? true : undefined), { what: "3 batches from the bounded agent" });

    await h.nats.halt();
    const downAt = Date.now();
    await waitFor(async () => agent.natsEvents.find((e) => e.type === "disconnect" && e.at >= downAt - 1000), { what: "the agent to see the disconnect" });
    await waitFor(async () => ((agent.agent.statusState().telemetry?.droppedBatches ?? 0) >= 5 ? true : undefined), { what: "5 dropped batches", timeoutMs: 20_000 });
    const during = agent.agent.statusState().telemetry!;
    expect(during.spooledBytes).toBeLessThanOrEqual(spoolMaxBytes);
    expect(during.spooledBatches).toBeGreaterThan(0);
    expect(during.droppedBytes).toBeGreaterThan(during.droppedBatches * 1000);
    await h.nats.start();

    await waitFor(async () => (agent.agent.telemetryStats()!.spooledBatches === 0 ? true : undefined), { what: "the spool to drain", timeoutMs: 30_000 });
    const dropped = agent.agent.telemetryStats()!;
    // The drop reaches the control plane in the next heartbeat, and Prometheus counts it.
    const heartbeat = await waitFor(async () => {
      const s = status.latest(agentId);
      return s && s.telemetry && s.telemetry.droppedBatches === dropped.droppedBatches && s.telemetry.spooledBatches === 0 ? s : undefined;
    }, { what: "a heartbeat reporting the drops", debug: () => JSON.stringify(status.latest(agentId)) });
    expect(heartbeat.telemetry).toEqual({ spooledBatches: 0, spooledBytes: 0, droppedBatches: dropped.droppedBatches, droppedBytes: dropped.droppedBytes });
    const text = await agent.metrics.registry.metrics();
    expect(metricValue(text, "probepilot_agent_spool_dropped_batches_total")).toBe(dropped.droppedBatches);
    expect(metricValue(text, "probepilot_agent_spool_dropped_bytes_total")).toBe(dropped.droppedBytes);
    expect(metricValue(text, "probepilot_agent_spool_bytes")).toBe(0);

    await agent.stop();
    a = undefined;
    const final = agent.agent.telemetryStats()!;
    const produced = (await outcome(agent, "published")) + (await outcome(agent, "spooled"));
    const run = (await storedBatches()).slice(before.length);
    const seqs = run.map((b) => b.seq);
    // Everything that was not dropped arrived once and in order, and the one gap is the dropped batches, the
    // oldest of the outage. The oldest spooled batch is the one whose publish was in flight when the server
    // went away: it may have been stored with only its ack lost, so it can be counted as dropped and still be
    // there (the count errs on the side of loss, by at most that one batch).
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]!).toBeGreaterThan(seqs[i - 1]!);
    const gaps = seqs.slice(1).map((s, i) => s - seqs[i]! - 1).filter((g) => g > 0);
    expect(gaps).toHaveLength(1);
    expect(gaps[0]!).toBeGreaterThanOrEqual(final.droppedBatches - 1);
    expect(gaps[0]!).toBeLessThanOrEqual(final.droppedBatches);
    expect(run.length + gaps[0]!).toBe(produced);
  }, 90_000);
});
