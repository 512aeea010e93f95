import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import type { JetStreamClient, NatsConnection } from "nats";
import { TRPCClientError } from "@trpc/client";
import { DEAD_LETTER_ORIGINAL_SUBJECT_HEADER, DEAD_LETTER_REASON_HEADER, deadLetterSubject, statusSubject } from "@probepilot/shared";
import { startHarness, type Harness } from "@probepilot/testkit/control-plane-harness";
import { enrollAgents, type EnrolledAgent } from "@probepilot/testkit/fake-hello";
import { goodbye, heartbeat, probe, publishStatus, readDeadLetters } from "@probepilot/testkit/status-messages";
import { eventually, sleep } from "@probepilot/testkit/poll";
import { metricValue, scrape } from "@probepilot/testkit/metrics-text";
import { createTenant, type TestTenant } from "@probepilot/testkit/tenants";
import { applyStatusBatch } from "../../../src/services/agents/apply-status-batch.ts";

let h: Harness;
let nc: NatsConnection;
let js: JetStreamClient;
let tenantId: string;
let enrollToken: string;
/** A pool of enrolled agents of the harness tenant; each test takes its own. */
let pool: EnrolledAgent[];
let nextAgent = 0;
const take = () => {
  const a = pool[nextAgent++];
  if (!a) throw new Error("agent pool exhausted: enroll more in beforeAll");
  return a;
};

beforeAll(async () => {
  h = await startHarness();
  // Statuses are published into the platform account as the agents' own publishes arrive there.
  nc = await h.platformNats("status-stream-test");
  js = nc.jetstream();
  enrollToken = (await h.client().enrollTokens.create.mutate({ description: "status-stream suite" })).token;
  const enrolled = await enrollAgents(h.cp.url, enrollToken, 50, { prefix: "pool" });
  tenantId = enrolled.tenantId;
  pool = enrolled.agents;
});
afterAll(async () => {
  await nc?.drain();
  await h?.stop();
});

type Row = {
  id: string;
  tenant_id: string;
  status: string;
  probes: unknown;
  applied_policies: unknown;
  heartbeat_interval_sec: number;
  /** Epoch milliseconds (drizzle's driver makes raw timestamps strings; numbers compare plainly). */
  last_seen_at: number;
  last_status_at: number | null;
};
const ROW_COLUMNS = `id, tenant_id, status, probes, applied_policies, heartbeat_interval_sec,
  round(extract(epoch from last_seen_at) * 1000)::float8 as last_seen_at,
  round(extract(epoch from last_status_at) * 1000)::float8 as last_status_at`;
async function row(id: string): Promise<Row> {
  const [r] = await h.cp.db.sql.unsafe<Row[]>(`select ${ROW_COLUMNS} from agents where id = $1`, [id]);
  if (!r) throw new Error(`no agent row ${id}`);
  return r;
}

/** Wait until the consumer has applied `at` (ms) as the agent's newest status. */
async function appliedAt(id: string, at: number, timeoutMs = 10_000): Promise<Row> {
  return eventually(
    async () => {
      const r = await row(id);
      expect(r.last_status_at).toBe(at);
      return r;
    },
    { timeoutMs },
  );
}

/**
 * Publish a fresh heartbeat for a marker agent and wait until it is applied. The
 * stream is consumed in order by one consumer, so everything published before the
 * marker has been processed (applied, ignored or dead-lettered) once it shows.
 */
async function barrier(): Promise<void> {
  const marker = take();
  const at = Date.now();
  await publishStatus(js, heartbeat(tenantId, marker.agentId, { at }));
  await appliedAt(marker.agentId, at);
}

describe("heartbeats update the registry", () => {
  it("a heartbeat with probes and applied policies updates the row", async () => {
    const a = take();
    const before = await row(a.agentId);
    expect(before.probes).toEqual([]);
    expect(before.last_status_at).toBeNull();
    // Make it offline first, so the heartbeat has to bring it back online.
    await h.cp.db.sql`update agents set status = 'offline', last_seen_at = now() - interval '1 hour' where id = ${a.agentId}`;

    const at = Date.now();
    const probes = [
      probe({ kind: "host", version: "v3", state: "running", policyId: "pol_a" }),
      probe({ kind: "tcp_flows", version: "v2", state: "failed", error: "verifier: invalid mem access 'scalar'" }),
      probe({ kind: "cpu_profile", version: "v1", state: "unsupported", reason: "perf_event_open: EACCES (perf_event_paranoid=3)" }),
    ];
    await publishStatus(js, heartbeat(tenantId, a.agentId, { at, seq: 7, heartbeatIntervalSec: 15, appliedPolicies: { pol_a: 4, pol_b: 1 }, probes }));
    const after = await appliedAt(a.agentId, at);

    expect(after.status).toBe("online");
    expect(after.probes).toEqual(probes);
    expect(after.applied_policies).toEqual({ pol_a: 4, pol_b: 1 });
    expect(after.heartbeat_interval_sec).toBe(15);
    expect(Date.now() - after.last_seen_at).toBeLessThan(10_000);

    // And the API shows the same.
    const view = await h.client().agents.get.query({ id: a.agentId });
    expect(view.status).toBe("online");
    expect(view.probes).toEqual(probes);
    expect(view.appliedPolicies).toEqual({ pol_a: 4, pol_b: 1 });
    expect(view.natsPublicKey).toBe(a.key.getPublicKey());
  });

  it("stores the agent's telemetry spool report, and a goodbye keeps the last one", async () => {
    const a = take();
    const telemetry = { spooledBatches: 12, spooledBytes: 34_567, droppedBatches: 2, droppedBytes: 890 };
    const at = Date.now();
    await publishStatus(js, heartbeat(tenantId, a.agentId, { at, telemetry }));
    await appliedAt(a.agentId, at);
    expect((await h.client().agents.get.query({ id: a.agentId })).telemetry).toEqual(telemetry);
    await publishStatus(js, goodbye(tenantId, a.agentId, { at: at + 1 }));
    await appliedAt(a.agentId, at + 1);
    expect((await h.client().agents.get.query({ id: a.agentId })).telemetry).toEqual(telemetry);
  });

  it("a fractional heartbeat interval is rounded up, never down to 0", async () => {
    const a = take();
    const at = Date.now();
    await publishStatus(js, heartbeat(tenantId, a.agentId, { at, heartbeatIntervalSec: 0.25 }));
    expect((await appliedAt(a.agentId, at)).heartbeat_interval_sec).toBe(1);
  });

  it("300 agents × 3 heartbeats are all applied, newest wins, in far fewer batches than messages", async () => {
    const { agents } = await enrollAgents(h.cp.url, enrollToken, 300, { prefix: "fleet" });
    const batchesBefore = metricValue(await scrape(h.cp.url), "probepilot_status_batch_seconds_count");
    const appliedBefore = metricValue(await scrape(h.cp.url), "probepilot_status_messages_total", { outcome: "applied" });
    const base = Date.now();
    // Round k for every agent, then round k+1: like a fleet heartbeating in step.
    for (let k = 1; k <= 3; k++) {
      await Promise.all(
        agents.map((a, i) =>
          publishStatus(
            js,
            heartbeat(tenantId, a.agentId, {
              at: base + k,
              seq: k,
              heartbeatIntervalSec: 5 + k,
              appliedPolicies: { pol_fleet: k },
              probes: [probe({ version: `v${k}`, since: base + i })],
            }),
          ),
        ),
      );
    }
    const messages = agents.length * 3;

    const ids = agents.map((a) => a.agentId);
    await eventually(
      async () => {
        const [{ n }] = (await h.cp.db.sql`select count(*)::int as n from agents where id = any(${ids}) and last_status_at = to_timestamp(${(base + 3) / 1000})`) as unknown as [{ n: number }];
        expect(n).toBe(agents.length);
      },
      { timeoutMs: 20_000 },
    );
    // Every row carries the third heartbeat's state, not just the newest timestamp.
    const rows = await h.cp.db.sql.unsafe<Row[]>(`select ${ROW_COLUMNS} from agents where id = any($1)`, [ids]);
    expect(rows).toHaveLength(agents.length);
    const byId = new Map(rows.map((r) => [r.id, r]));
    agents.forEach((a, i) => {
      const r = byId.get(a.agentId)!;
      expect(r.status, a.agentId).toBe("online");
      expect(r.heartbeat_interval_sec, a.agentId).toBe(8);
      expect(r.applied_policies, a.agentId).toEqual({ pol_fleet: 3 });
      expect(r.probes, a.agentId).toEqual([probe({ version: "v3", since: base + i })]);
    });

    // Wait for the counters to catch up with the acks (they are bumped right after the write).
    const text = await eventually(async () => {
      const t = await scrape(h.cp.url);
      expect(metricValue(t, "probepilot_status_messages_total", { outcome: "applied" }) - appliedBefore).toBe(messages);
      return t;
    });
    const batches = metricValue(text, "probepilot_status_batch_seconds_count") - batchesBefore;
    expect(batches).toBeGreaterThan(0);
    // Batched writes: at least 20 messages per statement on average (in practice a handful of batches).
    expect(batches).toBeLessThanOrEqual(messages / 20);
  });
});

describe("ordering", () => {
  it("the message published last wins, whatever the agent's clock says (far future, then now)", async () => {
    const a = take();
    const future = Date.now() + 365 * 24 * 3600 * 1000;
    await publishStatus(js, heartbeat(tenantId, a.agentId, { instanceId: "proc-1", seq: 7, at: future, probes: [probe({ version: "skewed" })] }));
    await appliedAt(a.agentId, future);
    const now = Date.now();
    await publishStatus(js, heartbeat(tenantId, a.agentId, { instanceId: "proc-1", seq: 8, at: now, probes: [probe({ version: "fixed" })] }));
    expect((await appliedAt(a.agentId, now)).probes).toEqual([probe({ version: "fixed" })]);
    // A restarted agent (new instance, seq from 0, clock behind) takes over too.
    const earlier = now - 60_000;
    await publishStatus(js, heartbeat(tenantId, a.agentId, { instanceId: "proc-2", seq: 0, at: earlier, probes: [probe({ version: "restarted" })] }));
    expect((await appliedAt(a.agentId, earlier)).probes).toEqual([probe({ version: "restarted" })]);
  });

  it("a goodbye marks the agent offline and keeps its last known probes", async () => {
    const a = take();
    const at = Date.now();
    await publishStatus(js, heartbeat(tenantId, a.agentId, { at, probes: [probe({ version: "kept" })], appliedPolicies: { pol: 9 } }));
    expect((await appliedAt(a.agentId, at)).status).toBe("online");
    await publishStatus(js, goodbye(tenantId, a.agentId, { at: at + 1, seq: 2, reason: "SIGTERM" }));
    const r = await eventually(async () => {
      const r = await row(a.agentId);
      expect(r.status).toBe("offline");
      return r;
    });
    expect(r.last_status_at).toBe(at + 1);
    expect(r.probes).toEqual([probe({ version: "kept" })]);
    expect(r.applied_policies).toEqual({ pol: 9 });
    expect((await h.client().agents.list.query({ status: "offline" })).items.map((i) => i.id)).toContain(a.agentId);
  });

  // Redelivery (a batch not acked, e.g. the database blipped) hands the writer messages older
  // than ones already applied; the writer compares stream positions. Driven through the writer
  // directly, with explicit positions, on the real database.
  describe("redelivered messages (writer, explicit stream positions)", () => {
    const EPOCH = "2026-01-01T00:00:00Z";
    const streamed = (status: ReturnType<typeof heartbeat> | ReturnType<typeof goodbye>, streamSeq: number) => ({ status, streamSeq });

    it("an older position arriving after a newer one does not overwrite it (separate batches)", async () => {
      const a = take();
      expect(await applyStatusBatch(h.cp.db.db, EPOCH, [streamed(heartbeat(tenantId, a.agentId, { at: 2000, probes: [probe({ version: "new" })], appliedPolicies: { pol: 2 }, heartbeatIntervalSec: 20 }), 200)])).toBe(1);
      expect(await applyStatusBatch(h.cp.db.db, EPOCH, [streamed(heartbeat(tenantId, a.agentId, { at: 1000, probes: [probe({ version: "old" })], appliedPolicies: { pol: 1 }, heartbeatIntervalSec: 30 }), 100)])).toBe(0);
      const r = await row(a.agentId);
      expect(r.last_status_at).toBe(2000);
      expect(r.applied_policies).toEqual({ pol: 2 });
      expect(r.probes).toEqual([probe({ version: "new" })]);
      expect(r.heartbeat_interval_sec).toBe(20);
    });

    it("within one batch the highest position wins, in any order", async () => {
      const a = take();
      await applyStatusBatch(h.cp.db.db, EPOCH, [
        streamed(heartbeat(tenantId, a.agentId, { at: 5000, probes: [probe({ version: "new" })] }), 501),
        streamed(heartbeat(tenantId, a.agentId, { at: 4000, probes: [probe({ version: "old" })] }), 500),
      ]);
      const r = await row(a.agentId);
      expect(r.last_status_at).toBe(5000);
      expect(r.probes).toEqual([probe({ version: "new" })]);
    });

    it("an old process's redelivered goodbye does not take a restarted agent offline", async () => {
      const a = take();
      await applyStatusBatch(h.cp.db.db, EPOCH, [streamed(heartbeat(tenantId, a.agentId, { instanceId: "new-process", at: 3000 }), 900)]);
      expect(await applyStatusBatch(h.cp.db.db, EPOCH, [streamed(goodbye(tenantId, a.agentId, { instanceId: "old-process", at: 2000 }), 850)])).toBe(0);
      expect((await row(a.agentId)).status).toBe("online");
    });

    it("a recreated stream (new epoch) starts afresh: its low positions apply", async () => {
      const a = take();
      await applyStatusBatch(h.cp.db.db, EPOCH, [streamed(heartbeat(tenantId, a.agentId, { at: 1000 }), 10_000)]);
      expect(await applyStatusBatch(h.cp.db.db, "2026-02-02T00:00:00Z", [streamed(heartbeat(tenantId, a.agentId, { at: 2000 }), 1)])).toBe(1);
      expect((await row(a.agentId)).last_status_at).toBe(2000);
    });
  });
});

describe("poison messages", () => {
  type Case = { name: string; subject: (agentId: string) => string; body: (agentId: string) => string | Uint8Array; reason: RegExp; reasonClass: string };
  const CASES: Case[] = [
    {
      name: "random bytes",
      subject: (id) => statusSubject(tenantId, id),
      body: () => Buffer.concat([Buffer.from([0xff, 0xfe]), randomBytes(62)]),
      reason: /^not_json: /,
      reasonClass: "not_json",
    },
    {
      name: "valid JSON of the wrong schema",
      subject: (id) => statusSubject(tenantId, id),
      body: () => JSON.stringify({ hello: "world", items: [1, 2, 3] }),
      reason: /^schema: .*type/,
      reasonClass: "schema",
    },
    {
      name: "a JSON array",
      subject: (id) => statusSubject(tenantId, id),
      body: () => "[1,2,3]",
      reason: /^schema: /,
      reasonClass: "schema",
    },
    {
      name: "NaN where a number belongs (not JSON at all)",
      subject: (id) => statusSubject(tenantId, id),
      body: (id) => JSON.stringify(heartbeat(tenantId, id)).replace(/"at":\d+/, '"at":NaN'),
      reason: /^not_json: /,
      reasonClass: "not_json",
    },
    {
      name: 'the string "NaN" where a number belongs',
      subject: (id) => statusSubject(tenantId, id),
      body: (id) => JSON.stringify({ ...heartbeat(tenantId, id), heartbeatIntervalSec: "NaN" }),
      reason: /^schema: heartbeatIntervalSec: /,
      reasonClass: "schema",
    },
    {
      name: "a numeric string as the timestamp",
      subject: (id) => statusSubject(tenantId, id),
      body: (id) => JSON.stringify({ ...heartbeat(tenantId, id), at: String(Date.now()) }),
      reason: /^schema: at: /,
      reasonClass: "schema",
    },
    {
      name: "a negative sequence number",
      subject: (id) => statusSubject(tenantId, id),
      body: (id) => JSON.stringify({ ...heartbeat(tenantId, id), seq: -1 }),
      reason: /^schema: seq: /,
      reasonClass: "schema",
    },
    {
      name: "a body naming another agent than the subject",
      subject: (id) => statusSubject(tenantId, id),
      body: () => JSON.stringify(heartbeat(tenantId, "agt_someoneelse000000000000000")),
      reason: /^subject_mismatch: /,
      reasonClass: "subject_mismatch",
    },
    {
      name: "a body naming another tenant than the subject",
      subject: (id) => statusSubject("ten_othertenant000000000000000", id),
      body: (id) => JSON.stringify(heartbeat(tenantId, id)),
      reason: /^subject_mismatch: /,
      reasonClass: "subject_mismatch",
    },
    {
      name: "a subject with an extra token",
      subject: (id) => `${statusSubject(tenantId, id)}.extra`,
      body: (id) => JSON.stringify(heartbeat(tenantId, id)),
      reason: /^subject_mismatch: /,
      reasonClass: "subject_mismatch",
    },
  ];

  it.each(CASES)("$name: dead-lettered with its reason, counted, and the consumer goes on", async (c) => {
    const victim = take();
    const healthy = take();
    const victimBefore = await row(victim.agentId);
    const before = await scrape(h.cp.url);
    const dlqBefore = (await readDeadLetters(nc)).length;

    const subject = c.subject(victim.agentId);
    const body = c.body(victim.agentId);
    const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
    await publishStatus(js, bytes, subject);
    // A valid message published after the poison one is still applied.
    const at = Date.now();
    await publishStatus(js, heartbeat(tenantId, healthy.agentId, { at, probes: [probe({ version: "after-poison" })] }));
    expect((await appliedAt(healthy.agentId, at)).probes).toEqual([probe({ version: "after-poison" })]);

    const dead = await eventually(async () => {
      const all = await readDeadLetters(nc);
      expect(all.length).toBe(dlqBefore + 1);
      return all[all.length - 1]!;
    });
    expect(dead.subject).toBe(deadLetterSubject("status"));
    expect(Buffer.from(dead.data).equals(Buffer.from(bytes))).toBe(true);
    expect(dead.header.get(DEAD_LETTER_REASON_HEADER)).toMatch(c.reason);
    expect(dead.header.get(DEAD_LETTER_ORIGINAL_SUBJECT_HEADER)).toBe(subject);

    const after = await eventually(async () => {
      const t = await scrape(h.cp.url);
      expect(metricValue(t, "probepilot_dead_letters_total", { source: "status", reason: c.reasonClass }) - metricValue(before, "probepilot_dead_letters_total", { source: "status", reason: c.reasonClass })).toBe(1);
      return t;
    });
    expect(metricValue(after, "probepilot_dead_letters_total") - metricValue(before, "probepilot_dead_letters_total")).toBe(1);

    // The poison message changed nothing.
    const victimAfter = await row(victim.agentId);
    expect(victimAfter.last_status_at).toEqual(victimBefore.last_status_at);
    expect(victimAfter.probes).toEqual(victimBefore.probes);
  });

  it("the dead-lettered messages are gone from the status stream (terminated, not redelivered)", async () => {
    await barrier();
    const jsm = await nc.jetstreamManager();
    const info = await jsm.consumers.info("PP_STATUS", "pp-status-writer");
    expect(info.num_ack_pending).toBe(0);
    expect(info.num_redelivered).toBe(0);
  });

  it.each([
    {
      name: "a heartbeat interval too large for the database column",
      body: (id: string) => heartbeat(tenantId, id, { heartbeatIntervalSec: 1e12 }),
      reason: /^db_rejected: .*out of range/,
      count: 1,
    },
    {
      name: "a NUL character in a probe error (Postgres jsonb refuses \\u0000)",
      body: (id: string) => heartbeat(tenantId, id, { probes: [probe({ state: "failed", error: "loader died: \u0000garbage" })] }),
      reason: /^db_rejected: unsupported Unicode escape sequence/,
      count: 2,
    },
    {
      name: "a NUL character in an applied-policy id",
      body: (id: string) => heartbeat(tenantId, id, { appliedPolicies: { "pol\u0000x": 1 } }),
      reason: /^db_rejected: unsupported Unicode escape sequence/,
      count: 3,
    },
  ])("$name: dead-lettered, and a valid message in the same batch is applied at once", async (c) => {
    const victim = take();
    const healthy = take();
    const dlqBefore = (await readDeadLetters(nc)).length;
    const poison = c.body(victim.agentId);
    // Published back to back, so they are fetched in one batch.
    await publishStatus(js, poison);
    const at = Date.now();
    await publishStatus(js, heartbeat(tenantId, healthy.agentId, { at }));
    // Well under the consumer's 30 s ack wait: the valid message is not held back by the poison one.
    await appliedAt(healthy.agentId, at, 5_000);

    const dead = await eventually(async () => {
      const all = await readDeadLetters(nc);
      expect(all.length).toBe(dlqBefore + 1);
      return all[all.length - 1]!;
    });
    expect(JSON.parse(new TextDecoder().decode(dead.data))).toEqual(poison);
    expect(dead.header.get(DEAD_LETTER_REASON_HEADER)).toMatch(c.reason);
    expect(dead.header.get(DEAD_LETTER_ORIGINAL_SUBJECT_HEADER)).toBe(statusSubject(tenantId, victim.agentId));
    await eventually(async () => expect(metricValue(await scrape(h.cp.url), "probepilot_dead_letters_total", { source: "status", reason: "db_rejected" })).toBe(c.count));
    expect((await row(victim.agentId)).last_status_at).toBeNull();
  });
});

describe("tenant isolation", () => {
  let other: TestTenant;
  let otherAgents: EnrolledAgent[];

  beforeAll(async () => {
    other = await createTenant(h, "isolation-other");
    const token = (await other.client.enrollTokens.create.mutate({ description: "other tenant" })).token;
    const enrolled = await enrollAgents(h.cp.url, token, 3, { prefix: "other" });
    expect(enrolled.tenantId).toBe(other.tenantId);
    otherAgents = enrolled.agents;
  });

  it("a status message for another tenant's agent id, published under the wrong tenant, does not touch the agent", async () => {
    const victim = take();
    const before = await row(victim.agentId);
    // Well-formed and consistent (subject and body agree), but agent `victim` is not in tenant `other`.
    const forged = heartbeat(other.tenantId, victim.agentId, { at: Date.now(), probes: [probe({ version: "forged" })], appliedPolicies: { pol_evil: 1 } });
    await publishStatus(js, forged);
    // And the reverse: tenant `other`'s agent reported under the harness tenant.
    const otherVictim = otherAgents[0]!;
    const otherBefore = await row(otherVictim.agentId);
    await publishStatus(js, heartbeat(tenantId, otherVictim.agentId, { at: Date.now(), probes: [probe({ version: "forged" })] }));
    await barrier();

    const after = await row(victim.agentId);
    expect(after.tenant_id).toBe(tenantId);
    expect(after.probes).toEqual(before.probes);
    expect(after.applied_policies).toEqual(before.applied_policies);
    expect(after.last_status_at).toEqual(before.last_status_at);
    const otherAfter = await row(otherVictim.agentId);
    expect(otherAfter.tenant_id).toBe(other.tenantId);
    expect(otherAfter.probes).toEqual(otherBefore.probes);
    expect(otherAfter.last_status_at).toEqual(otherBefore.last_status_at);
  });

  it("a tenant's own agent is updated through its own subject", async () => {
    const mine = otherAgents[1]!;
    const at = Date.now();
    await publishStatus(js, heartbeat(other.tenantId, mine.agentId, { at, probes: [probe({ version: "legit" })] }));
    expect((await appliedAt(mine.agentId, at)).probes).toEqual([probe({ version: "legit" })]);
  });

  it("agents.list shows each tenant only its own agents", async () => {
    const mine = await h.client().agents.list.query({ limit: 1000 });
    const theirs = await other.client.agents.list.query({ limit: 1000 });
    const otherIds = new Set(otherAgents.map((a) => a.agentId));
    expect(theirs.total).toBe(3);
    expect(new Set(theirs.items.map((i) => i.id))).toEqual(otherIds);
    expect(theirs.items.every((i) => i.tenantId === other.tenantId)).toBe(true);
    expect(mine.items.some((i) => otherIds.has(i.id))).toBe(false);
    expect(mine.items.every((i) => i.tenantId === tenantId)).toBe(true);
    const [{ n }] = (await h.cp.db.sql`select count(*)::int as n from agents where tenant_id = ${tenantId}`) as unknown as [{ n: number }];
    expect(mine.total).toBe(n);
    // A selector matching every agent's host label still stays inside the tenant.
    const everything = await other.client.agents.list.query({ selector: "probepilot.io/os=linux", limit: 1000 });
    expect(everything.total).toBe(3);
  });

  it("agents.get and agents.setLabels of another tenant's agent are NOT_FOUND", async () => {
    const theirs = otherAgents[2]!.agentId;
    const mine = pool[0]!.agentId;
    for (const [client, id] of [
      [h.client(), theirs],
      [other.client, mine],
    ] as const) {
      const err = await client.agents.get.query({ id }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(TRPCClientError);
      expect((err as TRPCClientError<any>).data?.code).toBe("NOT_FOUND");
      expect((err as TRPCClientError<any>).data?.httpStatus).toBe(404);
      const err2 = await client.agents.setLabels.mutate({ id, labels: { pwned: "yes" } }).then(
        () => null,
        (e: unknown) => e,
      );
      expect((err2 as TRPCClientError<any>).data?.code).toBe("NOT_FOUND");
    }
    const [r] = await h.cp.db.sql`select central_labels from agents where id = ${theirs}`;
    expect(r!.central_labels).toEqual({});
  });
});

describe("offline detection", () => {
  it("an agent whose heartbeats stop is marked offline after about 3 intervals; one that keeps beating stays online", async () => {
    const silent = take();
    const beating = take();
    let stop = false;
    let seq = 0;
    const beater = (async () => {
      while (!stop) {
        await publishStatus(js, heartbeat(tenantId, beating.agentId, { at: Date.now(), seq: ++seq, heartbeatIntervalSec: 1 }));
        await sleep(400);
      }
    })();
    try {
      const at = Date.now();
      await publishStatus(js, heartbeat(tenantId, silent.agentId, { at, heartbeatIntervalSec: 1 }));
      const applied = await appliedAt(silent.agentId, at);
      expect(applied.status).toBe("online");
      expect(applied.heartbeat_interval_sec).toBe(1);

      // Not before 3 missed intervals...
      await sleep(Math.max(0, applied.last_seen_at + 2_500 - Date.now()));
      expect((await row(silent.agentId)).status).toBe("online");
      // ...but soon after (sweeps run every 200 ms in the harness).
      await eventually(async () => expect((await row(silent.agentId)).status).toBe("offline"), { timeoutMs: 5_000, intervalMs: 50 });
      const lateBy = Date.now() - applied.last_seen_at;
      expect(lateBy).toBeGreaterThanOrEqual(3_000);
      expect(lateBy).toBeLessThan(5_000);
      expect((await row(beating.agentId)).status).toBe("online");
      const listed = await h.client().agents.list.query({ status: "offline", limit: 1000 });
      expect(listed.items.map((i) => i.id)).toContain(silent.agentId);

      // A heartbeat brings it back.
      const again = Date.now();
      await publishStatus(js, heartbeat(tenantId, silent.agentId, { at: again, seq: 2, heartbeatIntervalSec: 1 }));
      expect((await appliedAt(silent.agentId, again)).status).toBe("online");
    } finally {
      stop = true;
      await beater;
    }
  });
});
