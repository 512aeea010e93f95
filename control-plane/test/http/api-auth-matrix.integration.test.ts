import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TRPCClientError, createTRPCUntypedClient, httpLink, httpSubscriptionLink } from "@trpc/client";
import { EventSource } from "eventsource";
import { ROLES, newId, roleAtLeast, type Role } from "@probepilot/shared";
import { appRouter, type AppRouter } from "../../src/trpc/app-router.ts";
import { trpcError } from "@probepilot/testkit/trpc-error";
import { startHarness, type Harness } from "@probepilot/testkit/control-plane-harness";
import { createTenant, type TestTenant } from "@probepilot/testkit/tenants";

/**
 * The role each procedure needs, and an input that passes validation so an
 * allowed caller reaches the service. A procedure missing here fails the first
 * test: decide its role when you add it.
 */
/** A real rollout (matching no agent), created before the matrix runs, for the reads and the watch. */
const MATRIX_ROLLOUT = newId("rollout");

const PROCEDURES: Record<string, { minRole: Role; input?: unknown }> = {
  "agents.list": { minRole: "viewer", input: { limit: 1 } },
  "agents.get": { minRole: "viewer", input: { id: newId("agent") } },
  "agents.summary": { minRole: "viewer", input: {} },
  "agents.setLabels": { minRole: "operator", input: { id: newId("agent"), labels: { matrix: "x" } } },
  // An agent that does not exist: 404 after the role check.
  "agents.revoke": { minRole: "admin", input: { id: newId("agent") } },
  "agents.simulatorCredentials": { minRole: "admin", input: { publicKey: "UDXNPV7FCSSZZIE3JFJK6FHNB6NIRDAH5BXVF6FK5BJEELAQHLAT54K4", ttlSec: 60 } },
  "tokens.create": { minRole: "admin", input: { role: "viewer", name: "auth-matrix" } },
  "tokens.list": { minRole: "admin" },
  "tokens.revoke": { minRole: "admin", input: { id: newId("apiToken") } },
  "enrollTokens.create": { minRole: "admin", input: { description: "auth-matrix" } },
  "enrollTokens.list": { minRole: "admin" },
  "enrollTokens.revoke": { minRole: "admin", input: { id: newId("enrollToken") } },
  "system.whoami": { minRole: "viewer" },
  "telemetry.range": { minRole: "viewer", input: { metric: "host_load1", from: 0, to: 60_000, stepMs: 10_000, agg: "avg" } },
  "telemetry.metrics": { minRole: "viewer" },
  "telemetry.live": { minRole: "viewer", input: { metric: "host_load1", stepMs: 1000, agg: "avg", windowMs: 60_000 } },
  "telemetry.liveMany": { minRole: "viewer", input: { charts: [{ key: "load", metric: "host_load1", stepMs: 1000, agg: "avg", windowMs: 60_000 }] } },
  "telemetry.histogram": { minRole: "viewer", input: { metric: "runqueue_latency_us", from: 0, to: 60_000, stepMs: 10_000 } },
  "telemetry.events": { minRole: "viewer", input: { from: 0, to: 60_000, limit: 10 } },
  "telemetry.profile": { minRole: "viewer", input: { from: 0, to: 60_000 } },
  "probes.list": { minRole: "viewer" },
  "probes.get": { minRole: "viewer", input: { probe: "host" } },
  "probes.getVersion": { minRole: "viewer", input: { probe: "host" } },
  "probes.createVersion": { minRole: "operator", input: { probe: "host", params: { intervalMs: 2000 } } },
  "probes.paramsSchema": { minRole: "viewer", input: { kind: "host" } },
  "rollouts.preview": { minRole: "viewer", input: { probe: "host", selector: "matrix=none" } },
  // Version 99 does not exist: a 404 after the role check, so repeated calls create nothing.
  "rollouts.create": { minRole: "operator", input: { probe: "host", version: 99, selector: "matrix=none" } },
  "rollouts.list": { minRole: "viewer" },
  "rollouts.get": { minRole: "viewer", input: { id: MATRIX_ROLLOUT } },
  "rollouts.agents": { minRole: "viewer", input: { id: MATRIX_ROLLOUT } },
  "rollouts.history": { minRole: "viewer", input: { id: MATRIX_ROLLOUT } },
  "rollouts.watch": { minRole: "viewer", input: { id: MATRIX_ROLLOUT } },
  "rollouts.annotations": { minRole: "viewer", input: { from: 0, to: 60_000 } },
  // Actions on a rollout that does not exist: 404 after the role check.
  "rollouts.pause": { minRole: "operator", input: { id: newId("rollout") } },
  "rollouts.resume": { minRole: "operator", input: { id: newId("rollout") } },
  "rollouts.promote": { minRole: "operator", input: { id: newId("rollout") } },
  "rollouts.abort": { minRole: "operator", input: { id: newId("rollout") } },
  "rollouts.rollback": { minRole: "operator", input: { id: newId("rollout") } },
};

type Caller = Role | "anonymous";

let h: Harness;
const tokens = new Map<Caller, string | undefined>();

beforeAll(async () => {
  h = await startHarness();
  tokens.set("anonymous", undefined);
  tokens.set("admin", h.adminToken);
  for (const role of ["viewer", "operator"] as const) tokens.set(role, (await h.client().tokens.create.mutate({ role, name: `matrix-${role}` })).token);
  await h.client().rollouts.create.mutate({ probe: "host", selector: "matrix=none", rolloutId: MATRIX_ROLLOUT });
});
afterAll(async () => {
  await h?.stop();
});

/** Call any procedure by path over HTTP and return the status the client saw. */
async function call(path: string, type: string, caller: Caller, input: unknown): Promise<{ status: number; message: string }> {
  const token = tokens.get(caller);
  const client = createTRPCUntypedClient<AppRouter>({
    links: [httpLink({ url: `${h.cp.url}/trpc`, headers: () => (token ? { authorization: `Bearer ${token}` } : {}) })],
  });
  try {
    if (type === "query") await client.query(path, input);
    else if (type === "mutation") await client.mutation(path, input);
    else if (type === "subscription") await firstEvent(path, token, input);
    else throw new Error(`${path} is a ${type}: teach this test to call it`);
    return { status: 200, message: "" };
  } catch (e) {
    if (!(e instanceof TRPCClientError)) throw e;
    return { status: (e.data as { httpStatus?: number } | undefined)?.httpStatus ?? 0, message: e.message };
  }
}

/** Open a subscription over SSE (as a client would), resolve on its first event, reject with its error. */
function firstEvent(path: string, token: string | undefined, input: unknown): Promise<void> {
  const client = createTRPCUntypedClient<AppRouter>({
    links: [
      httpSubscriptionLink({
        url: `${h.cp.url}/trpc`,
        EventSource,
        eventSourceOptions: () => ({ fetch: (u, init) => fetch(u, { ...init, headers: { ...init?.headers, ...(token ? { authorization: `Bearer ${token}` } : {}) } }) }),
      }),
    ],
  });
  return new Promise((resolve, reject) => {
    const sub = client.subscription(path, input, {
      onData: () => (sub.unsubscribe(), resolve()),
      onError: (err) => (sub.unsubscribe(), reject(err)),
    });
  });
}

// Typed as the nested router record, but at run time a flat map of "a.b" paths to procedures.
const procedures = Object.entries(appRouter._def.procedures as unknown as Record<string, { _def: { type: string } }>).map(([path, p]) => ({ path, type: p._def.type }));

describe("every procedure checks the token and the role", () => {
  it("the table names exactly the router's procedures", () => {
    expect(procedures.map((p) => p.path).sort()).toEqual(Object.keys(PROCEDURES).sort());
  });

  it.each(procedures)("$path ($type): 401 without a token, 403 below its role, allowed at or above it", async ({ path, type }) => {
    const { minRole, input } = PROCEDURES[path]!;
    // Also with no input at all: the token and role are checked before the input is.
    for (const sent of [input, undefined]) {
      const anon = await call(path, type, "anonymous", sent);
      expect(anon, `${path} anonymous`).toEqual({ status: 401, message: "missing API token: send `Authorization: Bearer <token>`" });
      for (const role of ROLES) {
        const got = await call(path, type, role, sent);
        if (roleAtLeast(role, minRole)) {
          // Allowed: success, or a 4xx about the input or the target, but never an auth error or a 500.
          expect([401, 403], `${path} as ${role}: ${got.message}`).not.toContain(got.status);
          expect(got.status, `${path} as ${role}: ${got.message}`).toBeLessThan(500);
        } else {
          expect(got, `${path} as ${role}`).toEqual({ status: 403, message: `this call needs the "${minRole}" role; your token has "${role}"` });
        }
      }
    }
    // With the sample input, the lowest allowed role gets all the way through.
    const ok = await call(path, type, minRole, input);
    expect([200, 404], `${path} as ${minRole}: ${ok.message}`).toContain(ok.status);
  });

  it("a viewer can use every query that needs no more than viewer, and no mutation", () => {
    // The brief's shape of the table, checked so that a change to it is deliberate.
    for (const { path, type } of procedures) {
      if (type === "mutation") expect(PROCEDURES[path]!.minRole, path).not.toBe("viewer");
    }
    expect(procedures.filter((p) => PROCEDURES[p.path]!.minRole === "viewer").map((p) => p.path).sort()).toEqual([
      "agents.get",
      "agents.list",
      "agents.summary",
      "probes.get",
      "probes.getVersion",
      "probes.list",
      "probes.paramsSchema",
      "rollouts.agents",
      "rollouts.annotations",
      "rollouts.get",
      "rollouts.history",
      "rollouts.list",
      "rollouts.preview",
      "rollouts.watch",
      "system.whoami",
      "telemetry.events",
      "telemetry.histogram",
      "telemetry.live",
      "telemetry.liveMany",
      "telemetry.metrics",
      "telemetry.profile",
      "telemetry.range",
    ]);
  });
});

describe("API and enrollment tokens are per tenant", () => {
  let other: TestTenant;
  let tenantId: string;
  let mineApi: { id: string; token: string };
  let mineEnroll: { id: string };
  let theirsApi: { id: string; token: string };
  let theirsEnroll: { id: string };

  beforeAll(async () => {
    tenantId = (await h.client().system.whoami.query()).tenantId;
    other = await createTenant(h, "cross-tenant");
    mineApi = await h.client().tokens.create.mutate({ role: "viewer", name: "mine" });
    mineEnroll = await h.client().enrollTokens.create.mutate({ description: "mine" });
    theirsApi = await other.client.tokens.create.mutate({ role: "viewer", name: "theirs" });
    theirsEnroll = await other.client.enrollTokens.create.mutate({ description: "theirs" });
  });

  const idsOf = async (table: "api_tokens" | "enrollment_tokens", tenant: string) =>
    new Set((await h.cp.db.sql`select id from ${h.cp.db.sql(table)} where tenant_id = ${tenant}`).map((r) => r.id as string));

  it("tokens.list and enrollTokens.list show only the caller's tenant", async () => {
    const theirList = (await other.client.tokens.list.query()).map((t) => t.id);
    expect(new Set(theirList)).toEqual(await idsOf("api_tokens", other.tenantId));
    expect(theirList).not.toContain(mineApi.id);
    const myList = (await h.client().tokens.list.query()).map((t) => t.id);
    expect(new Set(myList)).toEqual(await idsOf("api_tokens", tenantId));
    expect(myList).not.toContain(theirsApi.id);

    const theirEnroll = (await other.client.enrollTokens.list.query()).map((t) => t.id);
    expect(theirEnroll).toEqual([theirsEnroll.id]);
    const myEnroll = (await h.client().enrollTokens.list.query()).map((t) => t.id);
    expect(new Set(myEnroll)).toEqual(await idsOf("enrollment_tokens", tenantId));
    expect(myEnroll).not.toContain(theirsEnroll.id);
  });

  it("revoking another tenant's API token is NOT_FOUND, changes nothing and audits nothing", async () => {
    for (const [client, id, token] of [
      [other.client, mineApi.id, mineApi.token],
      [h.client(), theirsApi.id, theirsApi.token],
    ] as const) {
      const err = await trpcError(client.tokens.revoke.mutate({ id }));
      expect(err.data?.code).toBe("NOT_FOUND");
      expect(err.data?.httpStatus).toBe(404);
      expect(err.message).toBe(`active API token "${id}" not found`);
      // Still valid.
      await expect(h.client(token).system.whoami.query()).resolves.toMatchObject({ role: "viewer" });
      const audit = await h.cp.db.sql`select action from audit_log where target = ${id} order by id`;
      expect(audit.map((a) => a.action)).toEqual(["token.create"]);
    }
  });

  it("revoking another tenant's enrollment token is NOT_FOUND, changes nothing and audits nothing", async () => {
    for (const [client, id] of [
      [other.client, mineEnroll.id],
      [h.client(), theirsEnroll.id],
    ] as const) {
      const err = await trpcError(client.enrollTokens.revoke.mutate({ id }));
      expect(err.data?.code).toBe("NOT_FOUND");
      expect(err.message).toBe(`active enrollment token "${id}" not found`);
      const [row] = await h.cp.db.sql`select revoked_at from enrollment_tokens where id = ${id}`;
      expect(row!.revoked_at).toBeNull();
      const audit = await h.cp.db.sql`select action from audit_log where target = ${id} order by id`;
      expect(audit.map((a) => a.action)).toEqual(["enrollToken.create"]);
    }
    // The owner still can.
    await other.client.enrollTokens.revoke.mutate({ id: theirsEnroll.id });
    expect((await other.client.enrollTokens.list.query())[0]!.revokedAt).not.toBeNull();
  });
});
