import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import path from "node:path";
import { telemetrySubject, type TelemetryBatch } from "@probepilot/shared";
import { startHarness, type Harness } from "@probepilot/testkit/control-plane-harness";
import { enrollAgents, type EnrolledAgent } from "@probepilot/testkit/fake-hello";
import { freePort, waitForPort } from "@probepilot/testkit/free-port";
import { eventually } from "@probepilot/testkit/poll";
import { CONTROL_PLANE_BIN, INGESTER_BIN } from "@probepilot/testkit/bins";

/**
 * The reliability test of the brief: a standalone ingester killed with SIGKILL
 * mid-stream and restarted — the rows in Postgres equal what was produced, with
 * no duplicates (the ledger and COPY commit together; acks follow the commit).
 */
const AGENTS = 20;
const BATCHES_PER_AGENT = 150;
const SERIES_PER_BATCH = 20;

let h: Harness;
let tenantId: string;
let agents: EnrolledAgent[];
let ingesterCreds: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  // The control plane's own ingester is off: only the standalone process writes telemetry.
  h = await startHarness({ PROBEPILOT_INGEST: "off" });
  const { token } = await h.client().enrollTokens.create.mutate({});
  ({ tenantId, agents } = await enrollAgents(h.cp.url, token, AGENTS, { prefix: "crash" }));
  // What an operator does for a standalone ingester: issue its credentials with the control plane's admin command.
  ingesterCreds = path.join(h.dataDir, "ingester.creds");
  const issued = spawnSync(process.execPath, [CONTROL_PLANE_BIN, "nats-creds", "ingester", "--out", ingesterCreds, "--ttl", "1h"], {
    env: { ...process.env, DATABASE_URL: h.database.url, PROBEPILOT_SECRET_KEY: h.secretKey, PROBEPILOT_DATA_DIR: h.dataDir },
    encoding: "utf8",
  });
  if (issued.status !== 0) throw new Error(`nats-creds ingester failed: ${issued.stderr}`);
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  await h?.stop();
});

async function startIngester() {
  const port = await freePort();
  const child = spawn(process.execPath, [INGESTER_BIN], {
    env: {
      ...process.env,
      DATABASE_URL: h.database.url,
      NATS_URL: h.nats.url,
      PROBEPILOT_NATS_CA: h.nats.caFile,
      PROBEPILOT_NATS_CREDS: ingesterCreds,
      PROBEPILOT_INGESTER_HTTP: `127.0.0.1:${port}`,
      PROBEPILOT_LOG_LEVEL: "warn",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  await waitForPort(port, 30_000).catch((e) => {
    throw new Error(`${e.message}\n${output}`);
  });
  return { child, port, exited: new Promise((r) => child.once("exit", r)) };
}

const stored = async () => Number((await h.cp.db.sql`select coalesce(sum(samples), 0)::int as n from ingest_ledger`)[0]!.n);
const rows = async () => Number((await h.cp.db.sql`select count(*)::int as n from samples`)[0]!.n);

describe("a standalone ingester killed with SIGKILL mid-stream", () => {
  it("loses nothing and doubles nothing after a restart", async () => {
    const first = await startIngester();
    const health = await (await fetch(`http://127.0.0.1:${first.port}/healthz`)).json();
    expect(health).toMatchObject({ ok: true });

    // Produce in the background: every agent publishes its batches in order.
    const js = h.cp.nc.jetstream();
    const base = Date.now() - 60_000;
    let published = 0;
    const producing = (async () => {
      for (let seq = 0; seq < BATCHES_PER_AGENT; seq++) {
        await Promise.all(
          agents.map((a, i) => {
            const batch: TelemetryBatch = {
              v: 1, tenantId, agentId: a.agentId, probe: "host", probeVersion: "builtin", seq, sentAt: Date.now(),
              series: Array.from({ length: SERIES_PER_BATCH }, (_, s) => ({ metric: "crash_metric", kind: "gauge" as const, labels: { s: String(s) }, points: [[base + seq * 10 + i, seq] as [number, number]] })),
              histograms: [], events: [], profiles: [],
            };
            return js.publish(telemetrySubject(tenantId, a.agentId, "host"), JSON.stringify(batch)).then(() => (published += SERIES_PER_BATCH));
          }),
        );
      }
    })();

    // Kill it while it is busy: some batches committed, more in flight.
    await eventually(async () => expect(await stored()).toBeGreaterThan(5_000), { timeoutMs: 30_000, intervalMs: 20 });
    first.child.kill("SIGKILL");
    await first.exited;
    const atKill = await stored();
    await producing;
    const produced = AGENTS * BATCHES_PER_AGENT * SERIES_PER_BATCH;
    expect(published).toBe(produced);
    expect(atKill).toBeLessThan(produced); // it really died mid-stream

    // Restart: unacked batches are redelivered (after the ack wait) and the rest streams in.
    await startIngester();
    await eventually(async () => expect(await stored()).toBe(produced), { timeoutMs: 120_000, intervalMs: 500 });
    expect(await rows()).toBe(produced);
    const [dupes] = await h.cp.db.sql`select count(*)::int as n from (select series_id, ts from samples group by 1, 2 having count(*) > 1) d`;
    expect(dupes!.n).toBe(0);
    console.log(`ingester crash: ${atKill} of ${produced} samples stored when killed; all ${produced} stored exactly once after the restart`);
  }, 180_000);
});
