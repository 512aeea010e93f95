import { TelemetryTap } from "../../src/services/telemetry/live/telemetry-tap.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pino } from "pino";
import { newId, type AgentConfig } from "@probepilot/shared";
import { createHttpApp } from "../../src/http/app.ts";
import { createControlPlaneMetrics } from "../../src/metrics.ts";
import type { AgentConfigPublisher } from "../../src/services/agents/agent-config-publisher.ts";
import { trpcError } from "@probepilot/testkit/trpc-error";
import { startHarness, type Harness } from "@probepilot/testkit/control-plane-harness";
import { insertAgents } from "@probepilot/testkit/agent-rows";

const INTERNAL_MESSAGE = "internal error; see the control-plane log";

let h: Harness;
let tenantId: string;
beforeAll(async () => {
  h = await startHarness();
  tenantId = (await h.client().system.whoami.query()).tenantId;
  // A real database failure on demand: inserting a token whose name starts with
  // "fail-me" raises, and drizzle's error then carries the SQL and its parameters
  // (the token hash and the tenant id among them).
  await h.cp.db.sql.unsafe(`
    create function pp_test_fail_insert() returns trigger language plpgsql as $$
    begin raise exception 'injected failure for token %', new.name; end $$;
    create trigger pp_test_fail_insert before insert on api_tokens
      for each row when (new.name like 'fail-me%') execute function pp_test_fail_insert();
  `);
});
afterAll(async () => {
  await h?.stop();
});

/** An HTTP app on the harness database whose log lines are kept in `lines`. */
function appWithCapturedLog(agentConfig: AgentConfigPublisher = { publishAgentConfig: async () => {} }) {
  const lines: Record<string, any>[] = [];
  const log = pino({ level: "debug" }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  const app = createHttpApp({ webDir: "/nonexistent", db: h.cp.db.db, log, metrics: createControlPlaneMetrics(), agentConfig, credentials: h.cp.credentials, tap: new TelemetryTap(h.cp.nc), rolloutSignals: h.cp.rolloutSignals, health: async () => ({ ok: true, checks: {} }) });
  const call = (path: string, input: unknown, method: "GET" | "POST") => {
    const headers = { authorization: `Bearer ${h.adminToken}`, "content-type": "application/json" };
    return method === "GET"
      ? app.request(`/trpc/${path}?input=${encodeURIComponent(JSON.stringify(input))}`, { headers })
      : app.request(`/trpc/${path}`, { method, headers, body: JSON.stringify(input) });
  };
  return { lines, call };
}

describe("unexpected errors reach the client as a bare 500", () => {
  it("a failing SQL statement is a 500 with the generic message: no SQL, parameters, hash or tenant id", async () => {
    const before = await h.cp.db.sql`select count(*)::int as n from api_tokens`;
    const err = await trpcError(h.client().tokens.create.mutate({ role: "viewer", name: "fail-me" }));
    expect(err.data?.httpStatus).toBe(500);
    expect(err.data?.code).toBe("INTERNAL_SERVER_ERROR");
    expect(err.message).toBe(INTERNAL_MESSAGE);

    // The whole body, not just the message: nothing of the query may be anywhere in it.
    const res = await fetch(`${h.cp.url}/trpc/tokens.create`, {
      method: "POST",
      headers: { authorization: `Bearer ${h.adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ role: "viewer", name: "fail-me-raw" }),
    });
    expect(res.status).toBe(500);
    const body = await res.text();
    expect(JSON.parse(body).error.message).toBe(INTERNAL_MESSAGE);
    for (const secret of ["insert", "api_tokens", "params", "injected failure", tenantId, "fail-me-raw"]) expect(body).not.toContain(secret);
    expect(body).not.toMatch(/[0-9a-f]{64}/);
    // Nothing was written.
    expect(await h.cp.db.sql`select count(*)::int as n from api_tokens`).toEqual(before);
  });

  it("the original error, SQL included, is logged with the procedure path", async () => {
    const { lines, call } = appWithCapturedLog();
    const res = await call("tokens.create", { role: "viewer", name: "fail-me-logged" }, "POST");
    expect(res.status).toBe(500);
    expect(((await res.json()) as { error: { message: string } }).error.message).toBe(INTERNAL_MESSAGE);
    const logged = lines.filter((l) => l.msg === "tRPC procedure failed");
    expect(logged).toHaveLength(1);
    expect(logged[0]!.level).toBe(50);
    expect(logged[0]!.path).toBe("tokens.create");
    // pino's error serializer: the driver's error with its query, and the Postgres error as its cause.
    expect(logged[0]!.err.query).toMatch(/^insert into "api_tokens"/);
    expect(logged[0]!.err.message).toContain("injected failure for token fail-me-logged");
  });

  it("a failing dependency that throws a plain Error is a 500 with the generic message, and logged", async () => {
    const [agentId] = (await insertAgents(h.cp.db.db, tenantId, [{ hostname: "publish-fails" }])) as [string];
    const { lines, call } = appWithCapturedLog({
      publishAgentConfig: async (_tenant: string, _agent: string, _config: AgentConfig) => {
        throw new Error("nats: KV put to bucket pp_secret_internal_name timed out");
      },
    });
    const res = await call("agents.setLabels", { id: agentId, labels: { a: "b" } }, "POST");
    expect(res.status).toBe(500);
    const body = await res.text();
    expect(JSON.parse(body).error.message).toBe(INTERNAL_MESSAGE);
    expect(body).not.toContain("pp_secret_internal_name");
    const logged = lines.filter((l) => l.msg === "tRPC procedure failed");
    expect(logged.map((l) => l.path)).toEqual(["agents.setLabels"]);
    expect(JSON.stringify(logged[0]!.err)).toContain("pp_secret_internal_name");
  });

  it("expected errors are not logged as failures and keep their message", async () => {
    const { lines, call } = appWithCapturedLog();
    const missing = newId("agent");
    const res = await call("agents.get", { id: missing }, "GET");
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { message: string } }).error.message).toBe(`agent "${missing}" not found`);
    const bad = await call("agents.list", { selector: "env in staging" }, "GET");
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(/position 7/);
    expect(lines.filter((l) => l.msg === "tRPC procedure failed")).toEqual([]);
  });
});

describe("bad ids are a 400 that says what an id looks like, never a 500", () => {
  const SHAPE = /expected an? ([\w ]+ )?id such as [a-z]{3}_01h/;

  it("agents.get: NUL, empty, short, upper-case and wrong-prefix ids", async () => {
    for (const id of ["a\u0000b", "agt_\u0000", "", "agt_x", "AGT_01HX0000000000000000000000", "agt_01hx0000000000000000000000 ", "tok_01hx00000000000000000000aa"]) {
      const err = await trpcError(h.client().agents.get.query({ id }));
      expect(err.data?.httpStatus, JSON.stringify(id)).toBe(400);
      expect(err.message, JSON.stringify(id)).toMatch(/^invalid input: id: /);
      expect(err.message, JSON.stringify(id)).toMatch(SHAPE);
    }
    const wrongKind = await trpcError(h.client().agents.get.query({ id: "tok_01hx00000000000000000000aa" }));
    expect(wrongKind.message).toContain('"agt_"');
    // A well-formed id that does not exist is still a 404.
    expect((await trpcError(h.client().agents.get.query({ id: newId("agent") }))).data?.httpStatus).toBe(404);
  });

  it("agents.setLabels id and agents.list cursor", async () => {
    const e1 = await trpcError(h.client().agents.setLabels.mutate({ id: "a\u0000b", labels: { a: "b" } }));
    expect(e1.data?.httpStatus).toBe(400);
    expect(e1.message).toMatch(/^invalid input: id: /);
    for (const cursor of ["x\u0000", "' or 1=1 --", "agt_"]) {
      const e = await trpcError(h.client().agents.list.query({ cursor }));
      expect(e.data?.httpStatus, cursor).toBe(400);
      expect(e.message, cursor).toMatch(/^invalid input: cursor: /);
      expect(e.message, cursor).toMatch(SHAPE);
    }
    await expect(h.client().agents.list.query({ cursor: newId("agent") })).resolves.toMatchObject({ items: [] });
  });

  it("tokens.revoke and enrollTokens.revoke ids", async () => {
    for (const id of ["x\u0000", "nope", newId("agent")]) {
      const e = await trpcError(h.client().tokens.revoke.mutate({ id }));
      expect(e.data?.httpStatus, id).toBe(400);
      expect(e.message, id).toMatch(/^invalid input: id: /);
      expect(e.message, id).toContain('"tok_"');
      const e2 = await trpcError(h.client().enrollTokens.revoke.mutate({ id }));
      expect(e2.data?.httpStatus, id).toBe(400);
      expect(e2.message, id).toMatch(/^invalid input: id: /);
      expect(e2.message, id).toContain('"enr_"');
    }
    expect((await trpcError(h.client().tokens.revoke.mutate({ id: newId("apiToken") }))).data?.httpStatus).toBe(404);
    expect((await trpcError(h.client().enrollTokens.revoke.mutate({ id: newId("enrollToken") }))).data?.httpStatus).toBe(404);
  });
});

describe("free text and numbers are checked before they reach the database", () => {
  const tokenCount = async () => (await h.cp.db.sql`select count(*)::int as n from api_tokens`)[0]!.n as number;

  it("tokens.create rejects control characters in the name, saying which and where, and creates nothing", async () => {
    const before = await tokenCount();
    for (const [name, shown] of [
      ["x\u0000", "U+0000"],
      ["ci\u0007bot", "U+0007"],
      ["two\nlines", "U+000A"],
      ["esc\u001b[31mred", "U+001B"],
      ["c1\u0085", "U+0085"],
    ] as const) {
      const err = await trpcError(h.client().tokens.create.mutate({ role: "viewer", name }));
      expect(err.data?.httpStatus, JSON.stringify(name)).toBe(400);
      expect(err.message, JSON.stringify(name)).toMatch(/^invalid input: name: must not contain control characters/);
      expect(err.message, JSON.stringify(name)).toContain(shown);
    }
    expect(await tokenCount()).toBe(before);
    // Ordinary Unicode is fine.
    await expect(h.client().tokens.create.mutate({ role: "viewer", name: "café ☕ équipe" })).resolves.toMatchObject({ name: "café ☕ équipe" });
  });

  it("enrollTokens.create rejects control characters in the description", async () => {
    const err = await trpcError(h.client().enrollTokens.create.mutate({ description: "rack 4\u0000" }));
    expect(err.data?.httpStatus).toBe(400);
    expect(err.message).toMatch(/^invalid input: description: must not contain control characters/);
    const [{ n }] = (await h.cp.db.sql`select count(*)::int as n from enrollment_tokens where description like 'rack 4%'`) as unknown as [{ n: number }];
    expect(n).toBe(0);
  });

  it("enrollTokens.create caps expiresInSec at 10 years with a 400 naming the limit", async () => {
    for (const expiresInSec of [1e20, Number.MAX_SAFE_INTEGER, 10 * 365 * 86_400 + 1]) {
      const err = await trpcError(h.client().enrollTokens.create.mutate({ expiresInSec }));
      expect(err.data?.httpStatus, String(expiresInSec)).toBe(400);
      expect(err.message, String(expiresInSec)).toMatch(/^invalid input: expiresInSec: .*10 years/);
    }
    const tenYears = await h.client().enrollTokens.create.mutate({ expiresInSec: 10 * 365 * 86_400 });
    expect(new Date(tenYears.expiresAt!).getTime()).toBeGreaterThan(Date.now() + 9.9 * 365 * 86_400_000);
  });
});
