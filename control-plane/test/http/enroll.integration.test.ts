import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JSONCodec, type NatsConnection } from "nats";
import { HelloReplySchema, ID_PATTERN, agentConfigBucket, agentRpcSubject, mergeLabels, policyBucket, renewChallenge, type AgentHello } from "@probepilot/shared";
import { NkeyPair, decodeJwtClaims } from "@probepilot/shared/nkeys";
import { startHarness, type Harness } from "@probepilot/testkit/control-plane-harness";
import { connectAsAgent, enrollAgents, enrollOne, enrollRequest, fakeHello, type EnrolledAgent } from "@probepilot/testkit/fake-hello";
import { createTenant } from "@probepilot/testkit/tenants";
import { metricValue, scrape } from "@probepilot/testkit/metrics-text";

const json = JSONCodec<unknown>();
let h: Harness;
let tenantId: string;
let token: { id: string; token: string };
const open: NatsConnection[] = [];

beforeAll(async () => {
  h = await startHarness();
  tenantId = (await h.client().system.whoami.query()).tenantId;
  token = await h.client().enrollTokens.create.mutate({ description: "enroll suite", maxUses: 1000 });
});
afterAll(async () => {
  await Promise.all(open.map((nc) => nc.close()));
  await h?.stop();
});

const agentCount = async () => ((await h.cp.db.sql`select count(*)::int as n from agents`)[0] as { n: number }).n;
const tokenUses = async (id: string) => ((await h.cp.db.sql`select uses from enrollment_tokens where id = ${id}`)[0] as { uses: number }).uses;
const agentRow = async (id: string) => (await h.cp.db.sql`select * from agents where id = ${id}`)[0];
const request = (hello: AgentHello, key = NkeyPair.create("user"), t = token.token, requestId = randomUUID()) => ({ enrollmentToken: t, requestId, publicKey: key.getPublicKey(), hello });

async function asAgent(agent: EnrolledAgent): Promise<NatsConnection> {
  const nc = await connectAsAgent(h.nats, agent);
  open.push(nc);
  return nc;
}

async function hello(agent: EnrolledAgent, facts: AgentHello) {
  const nc = await asAgent(agent);
  return HelloReplySchema.parse(json.decode((await nc.request(agentRpcSubject(agent.tenantId, agent.agentId, "hello"), json.encode(facts), { timeout: 5000 })).data));
}

describe("first enrollment (POST /v1/agents/enroll)", () => {
  it("a valid token and the agent's public key get an agent id and a user JWT for that key; the agent is registered online", async () => {
    const usesBefore = await tokenUses(token.id);
    const key = NkeyPair.create("user");
    const facts = fakeHello({ hostname: "web-1", userLabels: { team: "payments" }, hostLabels: { "probepilot.io/hostname": "web-1", team: "host-team" } });
    const reply = await enrollRequest(h.cp.url, request(facts, key));
    expect(reply.status).toBe(200);
    const ok = reply.body;
    expect(ok.agentId).toMatch(ID_PATTERN);
    expect(ok.agentId).toMatch(/^agt_/);
    expect(ok.tenantId).toBe(tenantId);
    expect(ok.config).toEqual({ centralLabels: {}, revision: 0 });
    // The JWT names the agent's own key, is issued by its tenant's account, and expires.
    const claims = decodeJwtClaims(ok.jwt);
    expect(claims.sub).toBe(key.getPublicKey());
    expect(claims.name).toBe(ok.agentId);
    expect(claims.nats?.issuer_account).toBe(await h.cp.trust.tenantAccountPublicKey(tenantId));
    expect(ok.expiresAt).toBe(claims.exp! * 1000);
    expect(ok.expiresAt - Date.now()).toBeGreaterThan(23 * 3600_000);
    // Nothing secret travels: the reply holds no seed.
    expect(JSON.stringify(ok)).not.toContain(key.seedText());

    const row = await agentRow(ok.agentId);
    expect(row).toMatchObject({
      tenant_id: tenantId,
      hostname: "web-1",
      agent_version: facts.agentVersion,
      kernel: facts.kernel,
      status: "online",
      enrolled_with: token.id,
      nats_public_key: key.getPublicKey(),
      host_labels: facts.hostLabels,
      user_labels: { team: "payments" },
      // User labels win over host labels.
      labels: { "probepilot.io/hostname": "web-1", team: "payments" },
    });
    expect(new Date(row!.creds_expires_at).getTime()).toBe(ok.expiresAt);
    expect(await tokenUses(token.id)).toBe(usesBefore + 1);
    const view = await h.client().agents.get.query({ id: ok.agentId });
    expect(view.status).toBe("online");
    expect(view.natsPublicKey).toBe(key.getPublicKey());
  });

  it("concurrent enrollments with one token each get their own identity", async () => {
    const usesBefore = await tokenUses(token.id);
    const { agents, tenantId: t } = await enrollAgents(h.cp.url, token.token, 20, { prefix: "burst", concurrency: 20 });
    expect(t).toBe(tenantId);
    expect(new Set(agents.map((a) => a.agentId)).size).toBe(20);
    expect(await tokenUses(token.id)).toBe(usesBefore + 20);
  });

  it("the enrollment is audited, with the enrollment token as the actor and the agent's key", async () => {
    const a = await enrollOne(h.cp.url, token.token, fakeHello({ hostname: "audited-1" }));
    const rows = await h.cp.db.sql`select tenant_id, actor, action, target, details from audit_log where target = ${a.agentId}`;
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ tenant_id: tenantId, action: "agent.enroll", actor: `enrollToken:${token.id}`, details: { hostname: "audited-1", publicKey: a.key.getPublicKey() } });
  });
});

describe("hello over NATS (every start of an enrolled agent)", () => {
  it("refreshes the host facts, sets the agent online, returns its config, and does not spend the token", async () => {
    const a = await enrollOne(h.cp.url, token.token, fakeHello({ hostname: "db-1" }));
    const count = await agentCount();
    const usesBefore = await tokenUses(token.id);
    await h.cp.db.sql`update agents set status = 'offline', last_seen_at = now() - interval '1 day' where id = ${a.agentId}`;

    const facts = fakeHello({ hostname: "db-1", agentVersion: "0.2.0", kernel: "6.12.0", hostLabels: { "probepilot.io/hostname": "db-1", disk: "nvme" } });
    const reply = await hello(a, facts);
    expect(reply).toEqual({ ok: true, config: { centralLabels: {}, revision: 0 } });
    expect(await agentCount()).toBe(count);
    expect(await tokenUses(token.id)).toBe(usesBefore);
    const row = await agentRow(a.agentId);
    expect(row).toMatchObject({ agent_version: "0.2.0", kernel: "6.12.0", status: "online", labels: { "probepilot.io/hostname": "db-1", disk: "nvme" } });
    expect((await h.cp.db.sql`select (now() - last_seen_at) < interval '1 minute' as fresh from agents where id = ${a.agentId}`)[0]!.fresh).toBe(true);
    const audit = await h.cp.db.sql`select action, actor from audit_log where target = ${a.agentId} order by id`;
    expect(audit.map((r) => r.action)).toEqual(["agent.enroll", "agent.hello"]);
    expect(audit[1]!.actor).toBe(`agent:${a.agentId}`);
  });

  it("returns the central config, and central labels still win over the new host labels", async () => {
    const a = await enrollOne(h.cp.url, token.token, fakeHello({ hostname: "cfg-1" }));
    await h.client().agents.setLabels.mutate({ id: a.agentId, labels: { zone: "central-zone" } });
    const facts = fakeHello({ hostname: "cfg-1", hostLabels: { "probepilot.io/hostname": "cfg-1", zone: "host-zone" } });
    expect(await hello(a, facts)).toEqual({ ok: true, config: { centralLabels: { zone: "central-zone" }, revision: 1 } });
    expect((await agentRow(a.agentId))!.labels).toEqual(mergeLabels(facts.hostLabels, { zone: "central-zone" }));
  });

  it("a malformed hello is INVALID with the field named, and changes nothing", async () => {
    const a = await enrollOne(h.cp.url, token.token, fakeHello({ hostname: "bad-hello" }));
    const reply = await hello(a, { ...fakeHello({ hostname: "bad-hello" }), hostname: 42 } as unknown as AgentHello);
    expect(reply).toMatchObject({ ok: false, code: "INVALID" });
    expect(reply.ok ? "" : reply.message).toMatch(/hostname/);
    expect((await agentRow(a.agentId))!.hostname).toBe("bad-hello");
  });
});

describe("refused enrollment tokens", () => {
  it("an unknown token is refused (401)", async () => {
    const count = await agentCount();
    const r = await enrollRequest(h.cp.url, request(fakeHello(), undefined, "ppe_doesnotexist"));
    expect(r.status).toBe(401);
    expect(r.body).toMatchObject({ ok: false, code: "UNAUTHORIZED" });
    expect(r.body.message).toMatch(/unknown or revoked/);
    expect(await agentCount()).toBe(count);
  });

  it("a revoked token is refused and creates no agent", async () => {
    const t = await h.client().enrollTokens.create.mutate({ description: "to revoke" });
    await enrollOne(h.cp.url, t.token, fakeHello({ hostname: "before-revoke" }));
    await h.client().enrollTokens.revoke.mutate({ id: t.id });
    const count = await agentCount();
    const r = await enrollRequest(h.cp.url, request(fakeHello({ hostname: "after-revoke" }), undefined, t.token));
    expect(r.status).toBe(401);
    expect(r.body.message).toMatch(/revoked/);
    expect(await agentCount()).toBe(count);
    expect(await tokenUses(t.id)).toBe(1);
  });

  it("tokens expire after 24 h unless told otherwise; an expired one is refused and not counted", async () => {
    const byDefault = await h.client().enrollTokens.create.mutate({});
    expect(new Date(byDefault.expiresAt!).getTime() - Date.now()).toBeGreaterThan(23.9 * 3600_000);
    expect(new Date(byDefault.expiresAt!).getTime() - Date.now()).toBeLessThanOrEqual(24 * 3600_000);
    const t = await h.client().enrollTokens.create.mutate({ description: "short", expiresInSec: 3600 });
    await enrollOne(h.cp.url, t.token, fakeHello({ hostname: "in-time" }));
    await h.cp.db.sql`update enrollment_tokens set expires_at = now() - interval '1 minute' where id = ${t.id}`;
    const count = await agentCount();
    const r = await enrollRequest(h.cp.url, request(fakeHello({ hostname: "too-late" }), undefined, t.token));
    expect(r.status).toBe(401);
    expect(r.body.message).toMatch(new RegExp(`enrollment token ${t.id} expired at \\d{4}-`));
    expect(await agentCount()).toBe(count);
    expect(await tokenUses(t.id)).toBe(1);
  });

  it("a token enrolls at most its use limit of agents, also when they come at once", async () => {
    const t = await h.client().enrollTokens.create.mutate({ description: "three", maxUses: 3 });
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => enrollRequest(h.cp.url, request(fakeHello({ hostname: `limited-${i}` }), undefined, t.token))));
    expect(results.filter((r) => r.status === 200)).toHaveLength(3);
    const refusals = results.filter((r) => r.status !== 200);
    expect(refusals).toHaveLength(5);
    for (const r of refusals) {
      expect(r.status).toBe(401);
      expect(r.body.message).toMatch(/use limit/);
    }
    expect(await tokenUses(t.id)).toBe(3);
    const listed = (await h.client().enrollTokens.list.query()).find((x) => x.id === t.id);
    expect(listed).toMatchObject({ uses: 3, maxUses: 3 });
  });

  it("a token of another tenant enrolls into that tenant, not the caller's", async () => {
    const other = await createTenant(h, "enroll-other");
    const t = await other.client.enrollTokens.create.mutate({});
    const a = await enrollOne(h.cp.url, t.token, fakeHello({ hostname: "elsewhere" }));
    expect(a.tenantId).toBe(other.tenantId);
    expect(decodeJwtClaims(a.jwt).nats?.issuer_account).toBe(await h.cp.trust.tenantAccountPublicKey(other.tenantId));
    expect((await other.client.agents.list.query()).items.map((x) => x.id)).toEqual([a.agentId]);
    expect((await h.client().agents.list.query({ limit: 1000 })).items.map((x) => x.id)).not.toContain(a.agentId);
  });
});

describe("malformed requests", () => {
  const facts = fakeHello({ hostname: "malformed" });
  const key = NkeyPair.create("user").getPublicKey();
  const cases: { name: string; body: unknown; field: RegExp }[] = [
    { name: "not JSON", body: "{enroll me", field: /JSON/ },
    { name: "empty body", body: "", field: /JSON/ },
    { name: "a JSON string", body: JSON.stringify("hello"), field: /expected object/ },
    { name: "an empty object", body: {}, field: /enrollmentToken/ },
    { name: "no public key", body: { enrollmentToken: "ppe_x", requestId: randomUUID(), hello: facts }, field: /publicKey/ },
    { name: "an account key instead of a user key", body: { enrollmentToken: "ppe_x", requestId: randomUUID(), publicKey: NkeyPair.create("account").getPublicKey(), hello: facts }, field: /publicKey.*NKEY user public key/ },
    { name: "a token but no hello", body: { enrollmentToken: "ppe_x", requestId: randomUUID(), publicKey: key }, field: /\bhello\b/ },
    { name: "a hostname that is a number", body: { enrollmentToken: "ppe_x", requestId: randomUUID(), publicKey: key, hello: { ...facts, hostname: 42 } }, field: /hello\.hostname/ },
    { name: "an invalid host label key", body: { enrollmentToken: "ppe_x", requestId: randomUUID(), publicKey: key, hello: { ...facts, hostLabels: { "Not Valid": "x" } } }, field: /"Not Valid"/ },
  ];

  it.each(cases)("$name → 400 INVALID with a message naming what is wrong", async ({ body, field }) => {
    const count = await agentCount();
    const r = await enrollRequest(h.cp.url, body);
    expect(r.status).toBe(400);
    expect(r.body.code).toBe("INVALID");
    expect(r.body.message).toMatch(/^malformed enroll request: /);
    expect(r.body.message).toMatch(field);
    expect(await agentCount()).toBe(count);
  });

  it("a body over 64 KiB is refused with 413 before it is parsed", async () => {
    const r = await enrollRequest(h.cp.url, JSON.stringify({ pad: "x".repeat(70 * 1024) }));
    expect(r.status).toBe(413);
    expect(r.body.message).toMatch(/over 65536 bytes/);
    expect(JSON.stringify(r.body).length).toBeLessThan(500);
  });

  it("the route keeps answering after malformed requests, and counts each outcome", async () => {
    const text = await scrape(h.cp.url);
    expect(metricValue(text, "probepilot_enroll_requests_total", { outcome: "invalid" })).toBeGreaterThanOrEqual(cases.length);
    expect(metricValue(text, "probepilot_enroll_requests_total", { outcome: "unauthorized" })).toBeGreaterThan(0);
    expect(metricValue(text, "probepilot_enroll_requests_total", { outcome: "ok" })).toBeGreaterThan(0);
    await enrollOne(h.cp.url, token.token, fakeHello({ hostname: "still-answering" }));
  });
});

describe("tenant KV buckets", () => {
  it("a tenant created after start has its policy and agent-config buckets once an agent enrolls", async () => {
    const fresh = await createTenant(h, "kv-fresh");
    const t = await fresh.client.enrollTokens.create.mutate({});
    await enrollOne(h.cp.url, t.token, fakeHello({ hostname: "kv-1" }));
    const js = (await h.cp.mesh.tenant(fresh.tenantId)).jetstream();
    expect((await (await js.views.kv(policyBucket(fresh.tenantId), { bindOnly: true })).status()).history).toBe(5);
    expect((await (await js.views.kv(agentConfigBucket(fresh.tenantId), { bindOnly: true })).status()).history).toBe(1);
  });
});

describe("a retried enrollment (the reply was lost) and replays", () => {
  it("the same request with the same key returns the agent created the first time, a fresh JWT, and counts the token once", async () => {
    const t = await h.client().enrollTokens.create.mutate({ description: "retry" });
    const key = NkeyPair.create("user");
    const requestId = randomUUID();
    const body = request(fakeHello({ hostname: "flaky-link" }), key, t.token, requestId);
    const first = await enrollRequest(h.cp.url, body);
    const again = await enrollRequest(h.cp.url, body);
    expect(again.status).toBe(200);
    expect(again.body.agentId).toBe(first.body.agentId);
    expect(decodeJwtClaims(again.body.jwt).sub).toBe(key.getPublicKey());
    expect((await h.cp.db.sql`select count(*)::int as n from agents where hostname = 'flaky-link'`)[0]!.n).toBe(1);
    expect((await h.client().enrollTokens.list.query()).find((x) => x.id === t.id)?.uses).toBe(1);
  });

  it("a replayed request with another key cannot take the identity over (409), and the agent keeps its key", async () => {
    const t = await h.client().enrollTokens.create.mutate({});
    const victimKey = NkeyPair.create("user");
    const requestId = randomUUID();
    const original = await enrollRequest(h.cp.url, request(fakeHello({ hostname: "victim" }), victimKey, t.token, requestId));
    const attacker = NkeyPair.create("user");
    const replay = await enrollRequest(h.cp.url, request(fakeHello({ hostname: "victim" }), attacker, t.token, requestId));
    expect(replay.status).toBe(409);
    expect(replay.body.message).toMatch(/cannot take over/);
    expect(replay.body).not.toHaveProperty("jwt");
    expect((await agentRow(original.body.agentId))!.nats_public_key).toBe(victimKey.getPublicKey());
  });

  it("a public key already used by another agent is refused (409)", async () => {
    const a = await enrollOne(h.cp.url, token.token, fakeHello({ hostname: "key-owner" }));
    const r = await enrollRequest(h.cp.url, request(fakeHello({ hostname: "key-thief" }), a.key));
    expect(r.status).toBe(409);
    expect(r.body.message).toMatch(/another agent/);
  });

  it("a new requestId is a new agent, even from the same host", async () => {
    const a = await enrollOne(h.cp.url, token.token, fakeHello({ hostname: "twin" }));
    const b = await enrollOne(h.cp.url, token.token, fakeHello({ hostname: "twin" }));
    expect(a.agentId).not.toBe(b.agentId);
  });
});

describe("renewing expired credentials over HTTP (POST /v1/agents/renew)", () => {
  const renew = (body: unknown) => fetch(`${h.cp.url}/v1/agents/renew`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));
  const proof = (agentId: string, key: NkeyPair, issuedAt = Date.now()) => ({ agentId, issuedAt, signature: Buffer.from(key.sign(new TextEncoder().encode(renewChallenge(agentId, issuedAt)))).toString("base64url") });

  it("a proof signed with the agent's seed gets a fresh JWT for the same key", async () => {
    const a = await enrollOne(h.cp.url, token.token, fakeHello({ hostname: "renew-http" }));
    const r = await renew(proof(a.agentId, a.key));
    expect(r.status).toBe(200);
    expect(decodeJwtClaims(r.body.jwt).sub).toBe(a.key.getPublicKey());
    expect(r.body.expiresAt).toBeGreaterThanOrEqual(a.expiresAt);
  });

  it("another key's signature, an unknown agent and a stale proof are refused (401) alike", async () => {
    const a = await enrollOne(h.cp.url, token.token, fakeHello({ hostname: "renew-refused" }));
    for (const body of [proof(a.agentId, NkeyPair.create("user")), proof("agt_00000000000000000000000000", a.key), proof(a.agentId, a.key, Date.now() - 10 * 60_000)]) {
      const r = await renew(body);
      expect(r.status, JSON.stringify(r.body)).toBe(401);
      expect(r.body).not.toHaveProperty("jwt");
    }
  });

  it("a revoked agent gets no new credentials (403)", async () => {
    const a = await enrollOne(h.cp.url, token.token, fakeHello({ hostname: "renew-revoked" }));
    await h.client().agents.revoke.mutate({ id: a.agentId });
    const r = await renew(proof(a.agentId, a.key));
    expect(r.status).toBe(403);
    expect(r.body.message).toMatch(/revoked/);
  });
});
