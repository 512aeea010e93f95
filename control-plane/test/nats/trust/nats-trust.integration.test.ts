import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, JSONCodec, type NatsConnection } from "nats";
import {
  RenewReplySchema,
  STATUS_STREAM,
  TELEMETRY_STREAM,
  agentConfigBucket,
  agentConfigNudgeSubject,
  agentRpcSubject,
  policyBucket,
  statusSubject,
  telemetrySubject,
} from "@probepilot/shared";
import { NkeyPair, decodeJwtClaims, nkeyAuthenticator } from "@probepilot/shared/nkeys";
import { INGESTER_PERMISSIONS, STATUS_WRITER_PERMISSIONS, agentPermissions, tenantControlPermissions } from "../../../src/nats/trust/permissions.ts";
import { startHarness, type Harness } from "@probepilot/testkit/control-plane-harness";
import { connectAsAgent, enrollOne, fakeHello, type EnrolledAgent } from "@probepilot/testkit/fake-hello";
import { simulatorCreds } from "@probepilot/testkit/simulator-creds";
import { createTenant, type TestTenant } from "@probepilot/testkit/tenants";
import { eventually, sleep } from "@probepilot/testkit/poll";
import { heartbeat, goodbye } from "@probepilot/testkit/status-messages";

/**
 * The trust model, proven at the layer that enforces it: the NATS server in
 * operator mode. Every refusal below is the server's (a permissions or
 * authorization violation sent back on the connection), not a client check.
 */
const json = JSONCodec<unknown>();
let h: Harness;
let tenantA: string;
let tenantB: TestTenant;
let a1: EnrolledAgent;
let a2: EnrolledAgent;
let b1: EnrolledAgent;
let nc1: NatsConnection;
let platform: NatsConnection;
const open: NatsConnection[] = [];

const track = <T extends NatsConnection>(nc: T): T => (open.push(nc), nc);

beforeAll(async () => {
  h = await startHarness();
  tenantA = (await h.client().system.whoami.query()).tenantId;
  tenantB = await createTenant(h, "tenant-b");
  const tokenA = (await h.client().enrollTokens.create.mutate({})).token;
  const tokenB = (await tenantB.client.enrollTokens.create.mutate({})).token;
  a1 = await enrollOne(h.cp.url, tokenA, fakeHello({ hostname: "a-1" }));
  a2 = await enrollOne(h.cp.url, tokenA, fakeHello({ hostname: "a-2" }));
  b1 = await enrollOne(h.cp.url, tokenB, fakeHello({ hostname: "b-1" }));
  nc1 = track(await connectAsAgent(h.nats, a1));
  platform = track(await h.platformNats("trust-test-platform"));
});
afterAll(async () => {
  await Promise.all(open.map((nc) => nc.close().catch(() => {})));
  await h?.stop();
});

/** A request the server refuses to route: the client gets the server's permissions violation. */
async function refusedRequest(nc: NatsConnection, subject: string, data: Uint8Array = new Uint8Array(1)): Promise<string> {
  try {
    await nc.request(subject, data, { timeout: 3000 });
  } catch (err) {
    const e = err as { code?: string; message: string };
    expect(e.code, `${subject}: ${e.message}`).toBe("PERMISSIONS_VIOLATION");
    return e.message;
  }
  throw new Error(`the server let ${subject} through`);
}

/** A subscription the server refuses: the subscription's callback gets the server's error. */
function refusedSubscription(nc: NatsConnection, subject: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not refuse a subscription to ${subject} within 3 s`)), 3000);
    nc.subscribe(subject, {
      callback: (err) => {
        if (!err) return;
        clearTimeout(timer);
        resolve(err.message);
      },
    });
  });
}

/** The last message of `subject` in a platform stream, or null. */
async function lastInStream(stream: string, subject: string): Promise<unknown> {
  const jsm = await platform.jetstreamManager();
  return jsm.streams.getMessage(stream, { last_by_subj: subject }).then(
    (m) => m.json(),
    () => null,
  );
}

describe("connecting", () => {
  it("an anonymous client (no credentials) is refused by the server", async () => {
    const err = await connect({ servers: h.nats.url, tls: { caFile: h.nats.caFile! }, reconnect: false }).then(
      () => null,
      (e: { code?: string }) => e,
    );
    expect(err?.code).toBe("AUTHORIZATION_VIOLATION");
  });

  it("a client that does not speak TLS is refused", async () => {
    const plain = h.nats.url.replace("tls://", "nats://");
    const err = await connect({ servers: plain, authenticator: nkeyAuthenticator(() => ({ jwt: a1.jwt, key: a1.key })), reconnect: false, timeout: 3000 }).then(
      () => null,
      (e: Error) => e,
    );
    expect(err, "a plain-text connection must not be accepted").not.toBeNull();
  });

  it("an agent's JWT with another key (a sniffed JWT without its seed) is refused", async () => {
    const err = await connect({ servers: h.nats.url, tls: { caFile: h.nats.caFile! }, authenticator: nkeyAuthenticator(() => ({ jwt: a1.jwt, key: NkeyPair.create("user") })), reconnect: false }).then(
      () => null,
      (e: { code?: string }) => e,
    );
    expect(err?.code).toBe("AUTHORIZATION_VIOLATION");
  });
});

describe("an agent's own user", () => {
  it("its own telemetry and status publishes are acked by JetStream (in the platform account)", async () => {
    const js = nc1.jetstream({ checkAPI: false });
    const t = await js.publish(telemetrySubject(tenantA, a1.agentId, "host"), json.encode({ probe: "own" }));
    expect(t.stream).toBe(TELEMETRY_STREAM);
    const s = await js.publish(statusSubject(tenantA, a1.agentId), json.encode(heartbeat(tenantA, a1.agentId)));
    expect(s.stream).toBe(STATUS_STREAM);
    expect(await lastInStream(TELEMETRY_STREAM, telemetrySubject(tenantA, a1.agentId, "host"))).toEqual({ probe: "own" });
  });

  it("publishing telemetry or a status as another agent of its tenant is refused and stored nowhere", async () => {
    const forgedTelemetry = telemetrySubject(tenantA, a2.agentId, "host");
    expect(await refusedRequest(nc1, forgedTelemetry, json.encode({ probe: "forged" }))).toContain(forgedTelemetry);
    expect(await lastInStream(TELEMETRY_STREAM, forgedTelemetry)).toBeNull();
    // A forged goodbye would mark the other agent offline; forged heartbeats would change what rollout gates read.
    await refusedRequest(nc1, statusSubject(tenantA, a2.agentId), json.encode(goodbye(tenantA, a2.agentId)));
    expect((await h.cp.db.sql`select status from agents where id = ${a2.agentId}`)[0]!.status).toBe("online");
  });

  it("publishing on another tenant's subjects is refused", async () => {
    await refusedRequest(nc1, telemetrySubject(tenantB.tenantId, b1.agentId, "host"));
    await refusedRequest(nc1, statusSubject(tenantB.tenantId, b1.agentId));
    await refusedRequest(nc1, agentRpcSubject(tenantB.tenantId, b1.agentId, "hello"));
  });

  it("asking for another agent's hello or credentials is refused", async () => {
    await refusedRequest(nc1, agentRpcSubject(tenantA, a2.agentId, "hello"), json.encode(fakeHello({ hostname: "hijacked" })));
    await refusedRequest(nc1, agentRpcSubject(tenantA, a2.agentId, "renew"));
    expect((await h.cp.db.sql`select hostname from agents where id = ${a2.agentId}`)[0]!.hostname).toBe("a-2");
  });

  it("writing or deleting a policy key, and any stream administration, are refused", async () => {
    const policies = policyBucket(tenantA);
    await refusedRequest(nc1, `$KV.${policies}.pol_forged`, json.encode({ forged: true }));
    await refusedRequest(nc1, `$JS.API.STREAM.PURGE.KV_${policies}`);
    await refusedRequest(nc1, `$JS.API.STREAM.DELETE.KV_${policies}`);
    await refusedRequest(nc1, "$JS.API.STREAM.CREATE.EVIL", json.encode({ name: "EVIL", subjects: ["evil.>"] }));
    await refusedRequest(nc1, "$JS.API.STREAM.LIST");
    await refusedRequest(nc1, "$JS.API.INFO");
    await refusedRequest(nc1, `$JS.API.CONSUMER.CREATE.KV_${agentConfigBucket(tenantA)}`);
    // The control plane's config nudge (a forged one with a huge revision used to freeze an agent's labels).
    await refusedRequest(nc1, agentConfigNudgeSubject(tenantA, a2.agentId), json.encode({ centralLabels: {}, revision: 1e9 }));
  });

  it("subscribing to everything, to other agents' subjects or inboxes is refused", async () => {
    const probe = track(await connectAsAgent(h.nats, a1));
    for (const subject of [">", "pp.>", "pp.tm.>", "pp.status.>", agentConfigNudgeSubject(tenantA, a2.agentId), `_INBOX.${a2.agentId}.>`, "_INBOX.>", "$KV.>"]) {
      expect(await refusedSubscription(probe, subject), subject).toMatch(/Permissions Violation for Subscription/);
    }
  });

  it("it watches its tenant's policies and reads its own config key, not another agent's", async () => {
    await (await h.cp.mesh.tenant(tenantA)).jetstream().views.kv(policyBucket(tenantA)).then((kv) => kv.put("pol_visible", json.encode({ x: 1 })));
    const js = nc1.jetstream({ checkAPI: false });
    const kv = await js.views.kv(policyBucket(tenantA), { bindOnly: true });
    const seen: string[] = [];
    const watch = await kv.watch();
    const reading = (async () => {
      for await (const e of watch) if (seen.push(e.key) >= 1) break;
    })();
    await eventually(async () => expect(seen).toContain("pol_visible"));
    watch.stop();
    await reading;

    await h.client().agents.setLabels.mutate({ id: a1.agentId, labels: { zone: "own" } });
    await h.client().agents.setLabels.mutate({ id: a2.agentId, labels: { zone: "other" } });
    const cfg = await js.views.kv(agentConfigBucket(tenantA), { bindOnly: true, allow_direct: true });
    expect((await cfg.get(a1.agentId))?.json()).toMatchObject({ centralLabels: { zone: "own" } });
    await expect(cfg.get(a2.agentId)).rejects.toMatchObject({ code: "PERMISSIONS_VIOLATION" });
  });

  it("renews its JWT over its own connection, for the same key and a later expiry", async () => {
    await sleep(1100); // a whole second later: the new JWT's issue time differs
    const reply = RenewReplySchema.parse(json.decode((await nc1.request(agentRpcSubject(tenantA, a1.agentId, "renew"), json.encode({}), { timeout: 5000 })).data));
    if (!reply.ok) throw new Error(`renew refused: ${reply.message}`);
    expect(decodeJwtClaims(reply.jwt).sub).toBe(a1.key.getPublicKey());
    expect(reply.expiresAt).toBeGreaterThan(a1.expiresAt);
    const renewed = track(await connectAsAgent(h.nats, { ...a1, jwt: reply.jwt }));
    await renewed.jetstream({ checkAPI: false }).publish(telemetrySubject(tenantA, a1.agentId, "host"), json.encode({ probe: "renewed" }));
  });
});

describe("tenant isolation", () => {
  it("tenant B's users see nothing of tenant A: no telemetry, no statuses, no nudges, no buckets", async () => {
    const sim = await simulatorCreds(h, tenantB.token);
    const simKey = NkeyPair.fromSeed(sim.seed);
    const bSim = track(await connect({ servers: h.nats.url, tls: { caFile: h.nats.caFile! }, authenticator: nkeyAuthenticator(() => ({ jwt: sim.jwt, key: simKey })) }));
    const seen: string[] = [];
    for (const subject of ["_INBOX.>", `pp.agent.${tenantB.tenantId}.>`]) bSim.subscribe(subject, { callback: (_e, m) => seen.push(m.subject) });
    await bSim.flush();
    // Tenant A's agent publishes, is answered, and gets a nudge.
    await nc1.jetstream({ checkAPI: false }).publish(telemetrySubject(tenantA, a1.agentId, "host"), json.encode({ probe: "a-only" }));
    await h.client().agents.setLabels.mutate({ id: a1.agentId, labels: { secret: "a" } });
    await sleep(300);
    expect(seen).toEqual([]);
    // B's simulator may speak for B's agents only.
    await refusedRequest(bSim, telemetrySubject(tenantA, a1.agentId, "host"));
    await bSim.jetstream({ checkAPI: false }).publish(telemetrySubject(tenantB.tenantId, b1.agentId, "host"), json.encode({ probe: "b" }));
    // Even the control plane's own user in B's account finds none of A's buckets or the platform's streams there.
    const bControl = await h.cp.mesh.tenant(tenantB.tenantId);
    const names: string[] = [];
    for await (const s of (await bControl.jetstreamManager()).streams.list()) names.push(s.config.name);
    expect(names.sort()).toEqual([`KV_${agentConfigBucket(tenantB.tenantId)}`, `KV_${policyBucket(tenantB.tenantId)}`].sort());
  });
});

describe("the control plane's service users", () => {
  it("the ingester and the status writer may drain their consumer, and nothing else", async () => {
    const ingester = track(await h.cp.mesh.connectAs("platform", "test-ingester", INGESTER_PERMISSIONS));
    await refusedRequest(ingester, telemetrySubject(tenantA, a1.agentId, "host"));
    await refusedRequest(ingester, "$JS.API.STREAM.DELETE.PP_TELEMETRY");
    await refusedRequest(ingester, "$JS.API.CONSUMER.MSG.NEXT.PP_STATUS.pp-status-writer");
    expect(await refusedSubscription(ingester, "pp.tm.>")).toMatch(/Permissions Violation/);
    const writer = track(await h.cp.mesh.connectAs("platform", "test-status-writer", STATUS_WRITER_PERMISSIONS));
    await refusedRequest(writer, statusSubject(tenantA, a1.agentId));
    await refusedRequest(writer, "$JS.API.CONSUMER.MSG.NEXT.PP_TELEMETRY.pp-ingest");
  });

  it("a user of one tenant's account cannot act in another's even with a control-plane role", async () => {
    const key = NkeyPair.create("user");
    // Signed by tenant B's account with tenant A's permissions: the subjects do not exist in B's account.
    const { jwt } = await h.cp.trust.issueUser({ account: { tenantId: tenantB.tenantId }, name: "confused", publicKey: key.getPublicKey(), permissions: tenantControlPermissions(tenantA), ttlSec: 60 });
    const confused = track(await connect({ servers: h.nats.url, tls: { caFile: h.nats.caFile! }, authenticator: nkeyAuthenticator(() => ({ jwt, key })) }));
    await expect(confused.request(`$JS.API.STREAM.INFO.KV_${policyBucket(tenantA)}`, new Uint8Array(0), { timeout: 3000 }).then((m) => (json.decode(m.data) as { error?: { code: number } }).error?.code)).resolves.toBe(404);
  });
});

describe("expiry and revocation", () => {
  it("an expired JWT is refused, and a renewed one is accepted", async () => {
    const a = await enrollOne(h.cp.url, (await h.client().enrollTokens.create.mutate({})).token, fakeHello({ hostname: "short-lived" }));
    const shortLived = await h.cp.trust.issueUser({ account: { tenantId: tenantA }, name: a.agentId, publicKey: a.key.getPublicKey(), permissions: agentPermissions(tenantA, a.agentId), ttlSec: 2 });
    const nc = track(await connectAsAgent(h.nats, { ...a, jwt: shortLived.jwt }, { reconnect: false }));
    const closed = nc.closed();
    await sleep(Math.max(0, shortLived.expiresAt - Date.now()) + 1500);
    // The server cut the connection when the JWT expired…
    expect(nc.isClosed()).toBe(true);
    expect(String(await closed)).toMatch(/expired|Authorization|Authentication/i);
    // …and refuses it from then on.
    const again = await connectAsAgent(h.nats, { ...a, jwt: shortLived.jwt }, { reconnect: false }).then(
      (c) => (open.push(c), null),
      (e: { code?: string }) => e.code,
    );
    expect(again).toBe("AUTHORIZATION_VIOLATION");
    // A renewed JWT (what the agent gets over HTTP with its signed proof) is accepted.
    const renewed = track(await connectAsAgent(h.nats, a));
    await renewed.jetstream({ checkAPI: false }).publish(telemetrySubject(tenantA, a.agentId, "host"), json.encode({ probe: "after-renewal" }));
  });

  it("a revoked agent is disconnected by the server within 5 s, cannot reconnect, is revoked in the API, and it is audited", async () => {
    const token = (await h.client().enrollTokens.create.mutate({})).token;
    const [victim, bystander] = await Promise.all([enrollOne(h.cp.url, token, fakeHello({ hostname: "revoked-1" })), enrollOne(h.cp.url, token, fakeHello({ hostname: "bystander-1" }))]);
    const nc = track(await connectAsAgent(h.nats, victim, { reconnect: false }));
    const other = track(await connectAsAgent(h.nats, bystander, { reconnect: false }));
    const closed = nc.closed();
    const started = Date.now();
    const view = await h.client().agents.revoke.mutate({ id: victim.agentId });
    expect(view.status).toBe("revoked");
    expect(view.revokedAt).not.toBeNull();
    await Promise.race([closed, sleep(5000)]);
    expect(nc.isClosed(), "the revoked agent's connection is closed").toBe(true);
    expect(Date.now() - started).toBeLessThan(5000);
    const again = await connectAsAgent(h.nats, victim, { reconnect: false }).then(
      (c) => (open.push(c), null),
      (e: { code?: string }) => e.code,
    );
    expect(again).toBe("AUTHORIZATION_VIOLATION");
    // Another agent of the tenant is untouched.
    expect(other.isClosed()).toBe(false);
    await other.jetstream({ checkAPI: false }).publish(telemetrySubject(tenantA, bystander.agentId, "host"), json.encode({ probe: "still-here" }));
    // A status it sent before it was cut off cannot bring it back online.
    await platform.jetstream().publish(statusSubject(tenantA, victim.agentId), json.encode(heartbeat(tenantA, victim.agentId)));
    await sleep(300);
    expect((await h.client().agents.get.query({ id: victim.agentId })).status).toBe("revoked");
    const audit = await h.cp.db.sql`select action, actor from audit_log where target = ${victim.agentId} and action = 'agent.revoke'`;
    expect(audit).toHaveLength(1);
    expect(audit[0]!.actor).toMatch(/^token:/);
  });

  it("agents revoked in the same second both stay revoked (the later account update keeps the earlier entry)", async () => {
    const token = (await h.client().enrollTokens.create.mutate({})).token;
    const pair = await Promise.all([enrollOne(h.cp.url, token, fakeHello({ hostname: "twin-r1" })), enrollOne(h.cp.url, token, fakeHello({ hostname: "twin-r2" }))]);
    await Promise.all(pair.map((a) => h.client().agents.revoke.mutate({ id: a.agentId })));
    for (const a of pair) {
      const code = await connectAsAgent(h.nats, a, { reconnect: false }).then(
        (c) => (open.push(c), null),
        (e: { code?: string }) => e.code,
      );
      expect(code, a.agentId).toBe("AUTHORIZATION_VIOLATION");
    }
  });

  it("revoking is admin-only, tenant-scoped, and idempotent", async () => {
    const viewer = await h.client().tokens.create.mutate({ role: "operator", name: "op" });
    await expect(h.client(viewer.token).agents.revoke.mutate({ id: a2.agentId })).rejects.toMatchObject({ data: { code: "FORBIDDEN" } });
    await expect(tenantB.client.agents.revoke.mutate({ id: a2.agentId })).rejects.toMatchObject({ data: { code: "NOT_FOUND" } });
    const token = (await h.client().enrollTokens.create.mutate({})).token;
    const a = await enrollOne(h.cp.url, token, fakeHello({ hostname: "twice" }));
    const first = await h.client().agents.revoke.mutate({ id: a.agentId });
    const second = await h.client().agents.revoke.mutate({ id: a.agentId });
    expect(second.revokedAt).toEqual(first.revokedAt);
    expect((await h.cp.db.sql`select count(*)::int as n from audit_log where target = ${a.agentId} and action = 'agent.revoke'`)[0]!.n).toBe(1);
  });
});
