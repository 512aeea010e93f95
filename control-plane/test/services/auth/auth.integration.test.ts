import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stat, readFile } from "node:fs/promises";
import path from "node:path";
import { newId } from "@probepilot/shared";
import { trpcError } from "@probepilot/testkit/trpc-error";
import { startHarness, type Harness } from "@probepilot/testkit/control-plane-harness";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.stop();
});


describe("bootstrap", () => {
  it("writes the admin token with mode 0600 and it authenticates as admin", async () => {
    const file = path.join(h.dataDir, "admin-token");
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await readFile(file, "utf8")).trim()).toBe(h.adminToken);
    const me = await h.client().system.whoami.query();
    expect(me.role).toBe("admin");
  });
});

describe("authentication over HTTP", () => {
  it("rejects a missing token with 401 and says how to send one", async () => {
    const res = await fetch(`${h.cp.url}/trpc/agents.list`);
    expect(res.status).toBe(401);
    const body = (await res.json()) as { error: { message: string } };
    expect(body.error.message).toMatch(/missing API token/);
  });

  it("rejects an unknown token with 401", async () => {
    const err = await trpcError(h.client("ppt_notarealtoken").agents.list.query());
    expect(err.data?.httpStatus).toBe(401);
    expect(err.message).toMatch(/unknown or revoked/);
  });

  it("rejects a token of the wrong shape with 401", async () => {
    const err = await trpcError(h.client("hunter2").agents.list.query());
    expect(err.data?.httpStatus).toBe(401);
    expect(err.message).toMatch(/starting with "ppt_"/);
  });
});

describe("roles", () => {
  it("a viewer can read but gets 403 on mutations, naming the role needed", async () => {
    const viewer = await h.client().tokens.create.mutate({ role: "viewer", name: "ci-viewer" });
    expect(viewer.token).toMatch(/^ppt_/);
    const asViewer = h.client(viewer.token);
    await expect(asViewer.agents.list.query()).resolves.toMatchObject({ items: [], total: 0 });
    const err = await trpcError(asViewer.tokens.create.mutate({ role: "admin" }));
    expect(err.data?.httpStatus).toBe(403);
    expect(err.message).toBe('this call needs the "admin" role; your token has "viewer"');
    const err2 = await trpcError(asViewer.agents.setLabels.mutate({ id: "agt_x", labels: { a: "b" } }));
    expect(err2.data?.httpStatus).toBe(403);
  });

  it("an operator can set labels but cannot create tokens", async () => {
    const op = await h.client().tokens.create.mutate({ role: "operator" });
    const asOp = h.client(op.token);
    const err = await trpcError(asOp.agents.setLabels.mutate({ id: newId("agent"), labels: { a: "b" } }));
    expect(err.data?.httpStatus).toBe(404);
    expect((await trpcError(asOp.enrollTokens.create.mutate({}))).data?.httpStatus).toBe(403);
  });

  it("a revoked token stops working at once, and revocation is audited", async () => {
    const t = await h.client().tokens.create.mutate({ role: "viewer", name: "short-lived" });
    await h.client(t.token).system.whoami.query();
    await h.client().tokens.revoke.mutate({ id: t.id });
    expect((await trpcError(h.client(t.token).system.whoami.query())).data?.httpStatus).toBe(401);
    const audit = await h.cp.db.sql`select action, target, actor from audit_log where target = ${t.id} order by id`;
    expect(audit.map((a) => a.action)).toEqual(["token.create", "token.revoke"]);
    expect(audit[1]!.actor).toMatch(/^token:bootstrap-admin/);
  });

  it("tokens are stored hashed, never in clear", async () => {
    const t = await h.client().tokens.create.mutate({ role: "viewer" });
    const rows = await h.cp.db.sql`select token_hash from api_tokens where id = ${t.id}`;
    expect(rows[0]!.token_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(rows[0]!.token_hash).not.toContain(t.token);
  });
});

describe("input validation", () => {
  it("a malformed selector is a 400 with the position and what was expected", async () => {
    const err = await trpcError(h.client().agents.list.query({ selector: "env in staging" }));
    expect(err.data?.httpStatus).toBe(400);
    expect(err.message).toMatch(/position 7/);
    expect(err.message).toMatch(/expected/);
  });

  it("a bad role is a 400 naming the field", async () => {
    const err = await trpcError(h.client().tokens.create.mutate({ role: "root" as never }));
    expect(err.data?.httpStatus).toBe(400);
    expect(err.message).toMatch(/^invalid input: role:/);
  });
});

describe("ops routes", () => {
  it("/healthz reports postgres and nats", async () => {
    const res = await fetch(`${h.cp.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, checks: { postgres: { ok: true }, nats: { ok: true } } });
  });

  it("/metrics is Prometheus text with the control plane's counters", async () => {
    const res = await fetch(`${h.cp.url}/metrics`);
    const text = await res.text();
    expect(res.headers.get("content-type")).toMatch(/text\/plain/);
    expect(text).toMatch(/# TYPE probepilot_http_requests_total counter/);
    expect(text).toMatch(/probepilot_nats_connected 1/);
  });
});
