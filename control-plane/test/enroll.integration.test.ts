import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type NatsConnection } from "nats";
import { ID_PATTERN, agentConfigBucket, mergeLabels, policyBucket, type EnrollReply } from "@probepilot/shared";
import { hashSecret } from "../src/services/auth/secrets.ts";
import { startHarness, type Harness } from "./support/control-plane-harness.ts";
import { enrollAgents, enrollRequest, fakeHello } from "./support/fake-hello.ts";
import { createTenant } from "./support/tenants.ts";
import { metricValue, scrape } from "./support/metrics-text.ts";

let h: Harness;
let nc: NatsConnection;
let tenantId: string;
let token: { id: string; token: string };

beforeAll(async () => {
  h = await startHarness();
  nc = await connect({ servers: h.nats.url, name: "enroll-test" });
  tenantId = (await h.client().system.whoami.query()).tenantId;
  token = await h.client().enrollTokens.create.mutate({ description: "enroll suite" });
});
afterAll(async () => {
  await nc?.drain();
  await h?.stop();
});

type Ok = Extract<EnrollReply, { ok: true }>;
type Refused = Extract<EnrollReply, { ok: false }>;
function ok(reply: EnrollReply): Ok {
  if (!reply.ok) throw new Error(`expected an enrollment, got ${reply.code}: ${reply.message}`);
  return reply;
}
function refused(reply: EnrollReply): Refused {
  if (reply.ok) throw new Error(`expected a refusal, got agent ${reply.agentId}`);
  return reply;
}

const agentCount = async () => ((await h.cp.db.sql`select count(*)::int as n from agents`)[0] as { n: number }).n;
const tokenUses = async (id: string) => ((await h.cp.db.sql`select uses from enrollment_tokens where id = ${id}`)[0] as { uses: number }).uses;
const agentRow = async (id: string) => (await h.cp.db.sql`select * from agents where id = ${id}`)[0];

describe("first enrollment", () => {
  it("a valid token gets an agent id and key, and the agent is registered online with its host facts", async () => {
    const usesBefore = await tokenUses(token.id);
    const hello = fakeHello({ hostname: "web-1", userLabels: { team: "payments" }, hostLabels: { "probepilot.io/hostname": "web-1", team: "host-team" } });
    const reply = ok(await enrollRequest(nc, { enrollmentToken: token.token, requestId: randomUUID(), hello }));
    expect(reply.agentId).toMatch(ID_PATTERN);
    expect(reply.agentId).toMatch(/^agt_/);
    expect(reply.agentKey).toMatch(/^ppk_[A-Za-z0-9_-]{43}$/);
    expect(reply.tenantId).toBe(tenantId);
    expect(reply.config).toEqual({ centralLabels: {}, revision: 0 });

    const row = await agentRow(reply.agentId);
    expect(row).toMatchObject({
      tenant_id: tenantId,
      hostname: "web-1",
      agent_version: hello.agentVersion,
      kernel: hello.kernel,
      arch: hello.arch,
      os: hello.os,
      status: "online",
      enrolled_with: token.id,
      host_labels: hello.hostLabels,
      user_labels: { team: "payments" },
      central_labels: {},
      // User labels win over host labels.
      labels: { "probepilot.io/hostname": "web-1", team: "payments" },
    });
    expect(row!.capabilities).toEqual(hello.capabilities);
    // The key is stored hashed only.
    expect(row!.agent_key_hash).toBe(hashSecret(reply.agentKey!));
    expect(JSON.stringify(row)).not.toContain(reply.agentKey);
    expect(await tokenUses(token.id)).toBe(usesBefore + 1);

    const view = await h.client().agents.get.query({ id: reply.agentId });
    expect(view.hostname).toBe("web-1");
    expect(view.status).toBe("online");
    expect(view.capabilities.btf).toBe(true);
    expect(view).not.toHaveProperty("agentKeyHash");
  });

  it("concurrent enrollments with one token each get their own identity", async () => {
    const usesBefore = await tokenUses(token.id);
    const { agents, tenantId: t } = await enrollAgents(nc, token.token, 20, { prefix: "burst", concurrency: 20 });
    expect(t).toBe(tenantId);
    expect(new Set(agents.map((a) => a.agentId)).size).toBe(20);
    expect(new Set(agents.map((a) => a.agentKey)).size).toBe(20);
    expect(await tokenUses(token.id)).toBe(usesBefore + 20);
  });

  it("the enrollment is audited, with the enrollment token as the actor", async () => {
    const reply = ok(await enrollRequest(nc, { enrollmentToken: token.token, requestId: randomUUID(), hello: fakeHello({ hostname: "audited-1" }) }));
    const rows = await h.cp.db.sql`select tenant_id, actor, action, target, details from audit_log where target = ${reply.agentId}`;
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ tenant_id: tenantId, action: "agent.enroll", actor: `enrollToken:${token.id}`, details: { hostname: "audited-1" } });
  });
});

describe("re-identification", () => {
  it("id + key gets the same id, no new key, and refreshes the host facts", async () => {
    const first = ok(await enrollRequest(nc, { enrollmentToken: token.token, requestId: randomUUID(), hello: fakeHello({ hostname: "db-1" }) }));
    const count = await agentCount();
    const usesBefore = await tokenUses(token.id);
    await h.cp.db.sql`update agents set status = 'offline', last_seen_at = now() - interval '1 day' where id = ${first.agentId}`;

    const hello = fakeHello({ hostname: "db-1", agentVersion: "0.2.0", kernel: "6.12.0", hostLabels: { "probepilot.io/hostname": "db-1", disk: "nvme" } });
    const again = ok(await enrollRequest(nc, { agentId: first.agentId, agentKey: first.agentKey!, hello }));
    expect(again.agentId).toBe(first.agentId);
    expect(again.tenantId).toBe(tenantId);
    expect(again).not.toHaveProperty("agentKey");
    expect(again.config).toEqual({ centralLabels: {}, revision: 0 });
    expect(await agentCount()).toBe(count);
    // Re-identifying does not spend the enrollment token.
    expect(await tokenUses(token.id)).toBe(usesBefore);

    const row = await agentRow(first.agentId);
    expect(row).toMatchObject({ agent_version: "0.2.0", kernel: "6.12.0", status: "online", labels: { "probepilot.io/hostname": "db-1", disk: "nvme" } });
    expect(row!.agent_key_hash).toBe(hashSecret(first.agentKey!));
    expect((await h.cp.db.sql`select (now() - last_seen_at) < interval '1 minute' as fresh from agents where id = ${first.agentId}`)[0]!.fresh).toBe(true);
  });

  it("returns the central config, and central labels still win over the new host labels", async () => {
    const first = ok(await enrollRequest(nc, { enrollmentToken: token.token, requestId: randomUUID(), hello: fakeHello({ hostname: "cfg-1" }) }));
    await h.client().agents.setLabels.mutate({ id: first.agentId, labels: { zone: "central-zone" } });
    const hello = fakeHello({ hostname: "cfg-1", hostLabels: { "probepilot.io/hostname": "cfg-1", zone: "host-zone" } });
    const again = ok(await enrollRequest(nc, { agentId: first.agentId, agentKey: first.agentKey!, hello }));
    expect(again.config).toEqual({ centralLabels: { zone: "central-zone" }, revision: 1 });
    expect((await agentRow(first.agentId))!.labels).toEqual(mergeLabels(hello.hostLabels, { zone: "central-zone" }));
  });

  it("a wrong key, an unknown id or another agent's key is UNAUTHORIZED and changes nothing", async () => {
    const a = ok(await enrollRequest(nc, { enrollmentToken: token.token, requestId: randomUUID(), hello: fakeHello({ hostname: "victim-1" }) }));
    const b = ok(await enrollRequest(nc, { enrollmentToken: token.token, requestId: randomUUID(), hello: fakeHello({ hostname: "other-1" }) }));
    const attempts = [
      { agentId: a.agentId, agentKey: "ppk_wrongwrongwrongwrongwrongwrongwrongwrongwro" },
      { agentId: a.agentId, agentKey: b.agentKey! },
      { agentId: "agt_00000000000000000000000000", agentKey: a.agentKey! },
    ];
    for (const attempt of attempts) {
      const r = refused(await enrollRequest(nc, { ...attempt, hello: fakeHello({ hostname: "hijacked" }) }));
      expect(r.code).toBe("UNAUTHORIZED");
      expect(r.message).toMatch(/unknown or its key does not match/);
      expect(r.message).toContain(attempt.agentId);
    }
    expect((await agentRow(a.agentId))!.hostname).toBe("victim-1");
    expect(JSON.stringify(await h.cp.db.sql`select hostname from agents`)).not.toContain("hijacked");
  });
});

describe("refused enrollment tokens", () => {
  it("an unknown token is refused", async () => {
    const count = await agentCount();
    const r = refused(await enrollRequest(nc, { enrollmentToken: "ppe_doesnotexist", requestId: randomUUID(), hello: fakeHello() }));
    expect(r.code).toBe("UNAUTHORIZED");
    expect(r.message).toMatch(/unknown or revoked/);
    expect(await agentCount()).toBe(count);
  });

  it("a revoked token is refused and creates no agent", async () => {
    const t = await h.client().enrollTokens.create.mutate({ description: "to revoke" });
    ok(await enrollRequest(nc, { enrollmentToken: t.token, requestId: randomUUID(), hello: fakeHello({ hostname: "before-revoke" }) }));
    await h.client().enrollTokens.revoke.mutate({ id: t.id });
    const count = await agentCount();
    const r = refused(await enrollRequest(nc, { enrollmentToken: t.token, requestId: randomUUID(), hello: fakeHello({ hostname: "after-revoke" }) }));
    expect(r.code).toBe("UNAUTHORIZED");
    expect(r.message).toMatch(/revoked/);
    expect(await agentCount()).toBe(count);
    expect(await tokenUses(t.id)).toBe(1);
  });

  it("an expired token is refused, creates no agent and is not counted as used", async () => {
    const t = await h.client().enrollTokens.create.mutate({ description: "short", expiresInSec: 3600 });
    expect(t.expiresAt).not.toBeNull();
    ok(await enrollRequest(nc, { enrollmentToken: t.token, requestId: randomUUID(), hello: fakeHello({ hostname: "in-time" }) }));
    await h.cp.db.sql`update enrollment_tokens set expires_at = now() - interval '1 minute' where id = ${t.id}`;
    const count = await agentCount();
    const r = refused(await enrollRequest(nc, { enrollmentToken: t.token, requestId: randomUUID(), hello: fakeHello({ hostname: "too-late" }) }));
    expect(r.code).toBe("UNAUTHORIZED");
    expect(r.message).toMatch(new RegExp(`enrollment token ${t.id} expired at \\d{4}-`));
    expect(await agentCount()).toBe(count);
    expect(await tokenUses(t.id)).toBe(1);
  });

  it("a token of another tenant enrolls into that tenant, not the caller's", async () => {
    const other = await createTenant(h, "enroll-other");
    const t = await other.client.enrollTokens.create.mutate({});
    const r = ok(await enrollRequest(nc, { enrollmentToken: t.token, requestId: randomUUID(), hello: fakeHello({ hostname: "elsewhere" }) }));
    expect(r.tenantId).toBe(other.tenantId);
    expect((await other.client.agents.list.query()).items.map((a) => a.id)).toEqual([r.agentId]);
    expect((await h.client().agents.list.query({ limit: 1000 })).items.map((a) => a.id)).not.toContain(r.agentId);
  });
});

describe("malformed requests", () => {
  const hello = fakeHello({ hostname: "malformed" });
  const cases: { name: string; request: unknown; field: RegExp }[] = [
    { name: "not JSON", request: "{enroll me", field: /JSON/ },
    { name: "empty body", request: "", field: /JSON|expected object/ },
    { name: "a JSON string", request: JSON.stringify("hello"), field: /expected object/ },
    { name: "an empty object", request: {}, field: /enrollmentToken/ },
    { name: "a token but no hello", request: { enrollmentToken: "ppe_x" }, field: /\bhello\b/ },
    { name: "an id and key but no hello", request: { agentId: "agt_x", agentKey: "ppk_x" }, field: /\bhello\b/ },
    { name: "an id without its key", request: { agentId: "agt_x", hello }, field: /agentKey/ },
    { name: "a hostname that is a number", request: { enrollmentToken: "ppe_x", requestId: randomUUID(), hello: { ...hello, hostname: 42 } }, field: /hello\.hostname/ },
    { name: "capabilities missing a check", request: { enrollmentToken: "ppe_x", requestId: randomUUID(), hello: { ...hello, capabilities: { ...hello.capabilities, btf: "yes" } } }, field: /hello\.capabilities\.btf/ },
    { name: "an invalid host label key", request: { enrollmentToken: "ppe_x", requestId: randomUUID(), hello: { ...hello, hostLabels: { "Not Valid": "x" } } }, field: /"Not Valid"/ },
  ];

  it.each(cases)("$name → INVALID with a message naming what is wrong", async ({ request, field }) => {
    const count = await agentCount();
    const r = refused(await enrollRequest(nc, request));
    expect(r.code).toBe("INVALID");
    expect(r.message).toMatch(/^malformed enroll request: /);
    expect(r.message).toMatch(field);
    expect(r.message).not.toMatch(/^malformed enroll request: \(root\): Invalid input$/);
    expect(await agentCount()).toBe(count);
  });

  it("the responder keeps answering after malformed requests, and counts each outcome", async () => {
    const text = await scrape(h.cp.url);
    expect(metricValue(text, "probepilot_enroll_requests_total", { outcome: "invalid" })).toBeGreaterThanOrEqual(cases.length);
    expect(metricValue(text, "probepilot_enroll_requests_total", { outcome: "unauthorized" })).toBeGreaterThan(0);
    expect(metricValue(text, "probepilot_enroll_requests_total", { outcome: "reidentified" })).toBeGreaterThan(0);
    ok(await enrollRequest(nc, { enrollmentToken: token.token, requestId: randomUUID(), hello: fakeHello({ hostname: "still-answering" }) }));
  });
});

describe("tenant KV buckets", () => {
  it("a tenant created after start has its policy and agent-config buckets once an agent enrolls", async () => {
    const fresh = await createTenant(h, "kv-fresh");
    const jsm = await nc.jetstreamManager();
    const exists = (bucket: string) =>
      jsm.streams.info(`KV_${bucket}`).then(
        () => true,
        () => false,
      );
    expect(await exists(policyBucket(fresh.tenantId))).toBe(false);
    expect(await exists(agentConfigBucket(fresh.tenantId))).toBe(false);

    const t = await fresh.client.enrollTokens.create.mutate({});
    ok(await enrollRequest(nc, { enrollmentToken: t.token, requestId: randomUUID(), hello: fakeHello({ hostname: "kv-1" }) }));
    expect(await exists(policyBucket(fresh.tenantId))).toBe(true);
    expect(await exists(agentConfigBucket(fresh.tenantId))).toBe(true);
    // The agent can open them as KV views (what it does to watch policies and read its config).
    const js = nc.jetstream();
    const policies = await js.views.kv(policyBucket(fresh.tenantId), { bindOnly: true });
    expect((await policies.status()).history).toBe(5);
    const cfg = await js.views.kv(agentConfigBucket(fresh.tenantId), { bindOnly: true });
    expect((await cfg.status()).history).toBe(1);
  });

  it("the default tenant's buckets exist from start", async () => {
    const js = nc.jetstream();
    await expect(js.views.kv(policyBucket(tenantId), { bindOnly: true })).resolves.toBeDefined();
    await expect(js.views.kv(agentConfigBucket(tenantId), { bindOnly: true })).resolves.toBeDefined();
  });
});

describe("a retried enrollment (the reply was lost)", () => {
  it("returns the agent created the first time, with a fresh key, and counts the token once", async () => {
    const t = await h.client().enrollTokens.create.mutate({ description: "retry" });
    const requestId = randomUUID();
    const first = ok(await enrollRequest(nc, { enrollmentToken: t.token, requestId, hello: fakeHello({ hostname: "flaky-link" }) }));
    const again = ok(await enrollRequest(nc, { enrollmentToken: t.token, requestId, hello: fakeHello({ hostname: "flaky-link" }) }));
    expect(again.agentId).toBe(first.agentId);
    expect(again.agentKey).toMatch(/^ppk_/);
    expect(again.agentKey).not.toBe(first.agentKey);
    // The fresh key identifies the agent; the first one (never received) no longer does.
    expect(ok(await enrollRequest(nc, { agentId: again.agentId, agentKey: again.agentKey, hello: fakeHello({ hostname: "flaky-link" }) })).agentId).toBe(first.agentId);
    expect(refused(await enrollRequest(nc, { agentId: first.agentId, agentKey: first.agentKey, hello: fakeHello({ hostname: "flaky-link" }) })).code).toBe("UNAUTHORIZED");
    const rows = await h.cp.db.sql`select count(*)::int as n from agents where hostname = 'flaky-link'`;
    expect(rows[0]!.n).toBe(1);
    const tokens = await h.client().enrollTokens.list.query();
    expect(tokens.find((x) => x.id === t.id)?.uses).toBe(1);
  });

  it("a new requestId is a new agent, even from the same host", async () => {
    const t = await h.client().enrollTokens.create.mutate({});
    const a = ok(await enrollRequest(nc, { enrollmentToken: t.token, requestId: randomUUID(), hello: fakeHello({ hostname: "twin" }) }));
    const b = ok(await enrollRequest(nc, { enrollmentToken: t.token, requestId: randomUUID(), hello: fakeHello({ hostname: "twin" }) }));
    expect(a.agentId).not.toBe(b.agentId);
  });
});
