import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { and, eq, sql } from "drizzle-orm";
import { JSONCodec, type NatsConnection } from "nats";
import { agentConfigBucket, formatSelector, matchesSelector, parseSelector, type Labels, type Requirement, type Selector } from "@probepilot/shared";
import { agents } from "../../src/db/schema.ts";
import { selectorToSql } from "../../src/db/selector-sql.ts";
import { trpcError } from "@probepilot/testkit/trpc-error";
import { startHarness, type Harness } from "@probepilot/testkit/control-plane-harness";
import { insertAgents } from "@probepilot/testkit/agent-rows";
import { createTenant, type TestTenant } from "@probepilot/testkit/tenants";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.stop();
});


type Client = ReturnType<Harness["client"]>;

/** Every page of `agents.list`, following the cursor; checks `total` is the same on every page. */
async function listAll(client: Client, input: { selector?: string; status?: "online" | "offline"; limit: number }) {
  const pages: { ids: string[]; total: number; nextCursor: string | null }[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 1000; i++) {
    const page = await client.agents.list.query({ ...input, cursor });
    pages.push({ ids: page.items.map((a) => a.id), total: page.total, nextCursor: page.nextCursor });
    if (page.nextCursor === null) return pages;
    cursor = page.nextCursor;
  }
  throw new Error("pagination did not end after 1000 pages");
}

describe("agents.list pagination and status filter", () => {
  let ids: string[];
  let offline: Set<string>;

  beforeAll(async () => {
    const { tenantId } = await h.client().system.whoami.query();
    ids = await insertAgents(
      h.cp.db.db,
      tenantId,
      Array.from({ length: 250 }, (_, i) => ({ hostname: `page-${i}`, hostLabels: { idx: String(i), parity: i % 2 ? "odd" : "even" }, status: i % 4 === 0 ? ("offline" as const) : ("online" as const) })),
    );
    offline = new Set(ids.filter((_, i) => i % 4 === 0));
  });

  it("pages of 100 with the cursor see every agent exactly once, with the same total on every page", async () => {
    const pages = await listAll(h.client(), { limit: 100 });
    expect(pages.map((p) => p.ids.length)).toEqual([100, 100, 50]);
    expect(pages.map((p) => p.total)).toEqual([250, 250, 250]);
    const seen = pages.flatMap((p) => p.ids);
    expect(seen).toHaveLength(250);
    expect(new Set(seen).size).toBe(250);
    expect(new Set(seen)).toEqual(new Set(ids));
    // Keyset order: ids ascending across pages, and each cursor is the last id of its page.
    expect(seen).toEqual([...seen].sort());
    expect(pages[0]!.nextCursor).toBe(pages[0]!.ids[99]);
  });

  it("a last page that is exactly full has no next cursor (no empty extra page)", async () => {
    const pages = await listAll(h.client(), { limit: 125 });
    expect(pages.map((p) => p.ids.length)).toEqual([125, 125]);
    expect(pages[1]!.nextCursor).toBeNull();
    const one = await h.client().agents.list.query({ limit: 250 });
    expect(one.items).toHaveLength(250);
    expect(one.nextCursor).toBeNull();
  });

  it("the default page is 100", async () => {
    const page = await h.client().agents.list.query();
    expect(page.items).toHaveLength(100);
    expect(page.total).toBe(250);
    expect(page.nextCursor).not.toBeNull();
  });

  it("filters by status, alone and with a selector, across pages", async () => {
    const off = await listAll(h.client(), { status: "offline", limit: 10 });
    const offIds = off.flatMap((p) => p.ids);
    expect(new Set(offIds)).toEqual(offline);
    expect(offIds).toHaveLength(offline.size);
    expect(off.every((p) => p.total === offline.size)).toBe(true);

    const on = await h.client().agents.list.query({ status: "online", limit: 1000 });
    expect(on.total).toBe(250 - offline.size);
    expect(on.items.every((a) => a.status === "online" && !offline.has(a.id))).toBe(true);

    // i % 4 === 0 is always even, so offline ∧ odd is empty and offline ∧ even is all offline.
    expect((await h.client().agents.list.query({ status: "offline", selector: "parity=odd" })).total).toBe(0);
    expect((await h.client().agents.list.query({ status: "offline", selector: "parity=even", limit: 1000 })).items.map((a) => a.id).sort()).toEqual([...offline].sort());
    expect((await h.client().agents.list.query({ status: "online", selector: "parity in (even)" })).total).toBe(125 - offline.size);
  });

  it("rejects a bad status or limit with a 400 naming the field", async () => {
    const e1 = await trpcError(h.client().agents.list.query({ status: "sleeping" as never }));
    expect(e1.data?.httpStatus).toBe(400);
    expect(e1.message).toMatch(/status/);
    for (const limit of [0, 1001, 2.5]) {
      const e = await trpcError(h.client().agents.list.query({ limit }));
      expect(e.data?.httpStatus).toBe(400);
      expect(e.message).toMatch(/limit/);
    }
  });
});

describe("selector SQL agrees with matchesSelector (property)", () => {
  // A small alphabet so that matches are frequent; "ghost" is on no agent and the others on some.
  const KEYS = ["env", "region", "tier", "example.com/team", "canary"] as const;
  const SELECTOR_KEYS = [...KEYS, "ghost"] as const;
  const VALUES = ["a", "b", "c", "a_b", "v1.2", ""] as const;

  let tenant: TestTenant;
  const fleet: { id: string; labels: Labels }[] = [];

  beforeAll(async () => {
    tenant = await createTenant(h, "selector-property");
    const labelsArb = fc.record(Object.fromEntries(KEYS.map((k) => [k, fc.constantFrom(...VALUES)])) as Record<(typeof KEYS)[number], fc.Arbitrary<string>>, {
      requiredKeys: [],
    });
    // Spread: fast-check builds null-prototype records, and real labels come from JSON.parse.
    const labelSets: Labels[] = [{}, ...fc.sample(labelsArb, { numRuns: 39, seed: 20_241_126 }).map((l) => ({ ...l }))];
    const ids = await insertAgents(
      h.cp.db.db,
      tenant.tenantId,
      labelSets.map((userLabels, i) => ({ hostname: `prop-${i}`, userLabels })),
    );
    labelSets.forEach((labels, i) => fleet.push({ id: ids[i]!, labels }));
    // The fleet exercises absent keys: every key is missing on some agents and present on others.
    for (const k of KEYS) {
      const present = fleet.filter((a) => Object.hasOwn(a.labels, k)).length;
      expect(present, k).toBeGreaterThan(0);
      expect(present, k).toBeLessThan(fleet.length);
    }
  });

  const keyArb = fc.constantFrom(...SELECTOR_KEYS);
  const valueArb = fc.constantFrom(...VALUES);
  const valuesArb = fc.uniqueArray(valueArb, { minLength: 1, maxLength: 3 });
  const requirementArb: fc.Arbitrary<Requirement> = fc.oneof(
    fc.record({ op: fc.constant("eq" as const), key: keyArb, value: valueArb }),
    fc.record({ op: fc.constant("neq" as const), key: keyArb, value: valueArb }),
    fc.record({ op: fc.constant("in" as const), key: keyArb, values: valuesArb }),
    fc.record({ op: fc.constant("notin" as const), key: keyArb, values: valuesArb }),
    fc.record({ op: fc.constant("exists" as const), key: keyArb }),
    fc.record({ op: fc.constant("notexists" as const), key: keyArb }),
  );
  const selectorArb: fc.Arbitrary<Selector> = fc.array(requirementArb, { minLength: 0, maxLength: 3 }).map((requirements) => ({ requirements }));

  it("agents.list with a random selector returns exactly the agents matchesSelector accepts", async () => {
    const sizes: number[] = [];
    const opsSeen = new Set<string>();
    await fc.assert(
      fc.asyncProperty(selectorArb, async (selector) => {
        const text = formatSelector(selector);
        // Expected from the text the API gets, so a formatter quirk cannot be blamed on the SQL.
        const parsed = parseSelector(text);
        const expected = fleet.filter((a) => matchesSelector(parsed, a.labels)).map((a) => a.id).sort();
        const got = await tenant.client.agents.list.query({ selector: text, limit: 1000 });
        expect({ selector: text, ids: got.items.map((a) => a.id).sort() }).toEqual({ selector: text, ids: expected });
        expect(got.total).toBe(expected.length);
        sizes.push(expected.length);
        for (const r of selector.requirements) opsSeen.add(r.op);
      }),
      { numRuns: 100, seed: Number(process.env.PP_FC_SEED ?? Date.now() % 2 ** 31) },
    );
    // The property is only worth something if results are neither always empty nor always everything.
    expect(sizes.filter((n) => n > 0 && n < fleet.length).length).toBeGreaterThan(30);
    expect(opsSeen).toEqual(new Set(["eq", "neq", "in", "notin", "exists", "notexists"]));
  });

  it("absent keys: != and notin match, = and in and exists do not", async () => {
    const count = async (selector: string) => (await tenant.client.agents.list.query({ selector, limit: 1000 })).total;
    expect(await count("ghost!=a")).toBe(fleet.length);
    expect(await count("ghost notin (a,b)")).toBe(fleet.length);
    expect(await count("!ghost")).toBe(fleet.length);
    expect(await count("ghost")).toBe(0);
    expect(await count("ghost=a")).toBe(0);
    expect(await count("ghost in (a,)")).toBe(0);
    // The agent with no labels at all is matched by negations only.
    const unlabelled = fleet[0]!.id;
    expect((await tenant.client.agents.list.query({ selector: "env!=a", limit: 1000 })).items.map((a) => a.id)).toContain(unlabelled);
    expect((await tenant.client.agents.list.query({ selector: "env in (a,b,c,a_b,v1.2,)", limit: 1000 })).items.map((a) => a.id)).not.toContain(unlabelled);
  });

  it("the empty value is a value, distinct from an absent key", async () => {
    const withEmpty = fleet.filter((a) => a.labels.env === "").map((a) => a.id).sort();
    const absent = fleet.filter((a) => !Object.hasOwn(a.labels, "env")).map((a) => a.id);
    expect(withEmpty.length).toBeGreaterThan(0);
    const got = await tenant.client.agents.list.query({ selector: "env in (,)", limit: 1000 });
    expect(got.items.map((a) => a.id).sort()).toEqual(withEmpty);
    const notEmpty = await tenant.client.agents.list.query({ selector: "env notin (,)", limit: 1000 });
    expect(notEmpty.items.map((a) => a.id)).toEqual(expect.arrayContaining(absent));
    expect(notEmpty.total).toBe(fleet.length - withEmpty.length);
  });
});

describe("selector values with SQL-ish characters", () => {
  let tenant: TestTenant;
  const byValue = new Map<string, string>();

  beforeAll(async () => {
    tenant = await createTenant(h, "sqlish");
    const specs: { label: Labels; name: string }[] = [
      { name: "a_b", label: { app: "a_b" } },
      { name: "axb", label: { app: "axb" } },
      { name: "aab", label: { app: "aab" } },
      { name: "a.b", label: { app: "a.b" } },
      { name: "a-b", label: { app: "a-b" } },
      { name: "A_B", label: { app: "A_B" } },
      { name: "a__b", label: { app: "a__b" } },
      { name: "prefixed", label: { "example.com/app": "a_b" } },
      { name: "none", label: {} },
    ];
    const ids = await insertAgents(
      h.cp.db.db,
      tenant.tenantId,
      specs.map((s) => ({ hostname: s.name, hostLabels: s.label })),
    );
    specs.forEach((s, i) => byValue.set(s.name, ids[i]!));
  });

  const names = async (selector: string) => {
    const got = await tenant.client.agents.list.query({ selector, limit: 1000 });
    const idToName = new Map([...byValue].map(([n, id]) => [id, n]));
    return got.items.map((a) => idToName.get(a.id)!).sort();
  };

  it("`_` and `.` match literally (no LIKE wildcards), case-sensitively", async () => {
    expect(await names("app=a_b")).toEqual(["a_b"]);
    expect(await names("app==a.b")).toEqual(["a.b"]);
    expect(await names("app=A_B")).toEqual(["A_B"]);
    expect(await names("app=a__b")).toEqual(["a__b"]);
    expect(await names("app in (a_b,a-b)")).toEqual(["a-b", "a_b"]);
    expect(await names("app!=a_b")).toEqual(["A_B", "a-b", "a.b", "a__b", "aab", "axb", "none", "prefixed"].sort());
    expect(await names("app notin (a_b,a.b)")).toEqual(["A_B", "a-b", "a__b", "aab", "axb", "none", "prefixed"].sort());
  });

  it("a prefixed key is its own key", async () => {
    expect(await names("example.com/app=a_b")).toEqual(["prefixed"]);
    expect(await names("example.com/app")).toEqual(["prefixed"]);
    expect(await names("app,!example.com/app")).toEqual(["A_B", "a-b", "a.b", "a__b", "a_b", "aab", "axb"]);
  });

  it("quotes, %, ; and other characters outside the label rules are refused with a 400, and nothing is touched", async () => {
    const [{ before }] = (await h.cp.db.sql`select count(*)::int as before from agents`) as unknown as [{ before: number }];
    for (const selector of ["app='a_b'", "app=a%b", "app=a_b' or '1'='1", "app=a_b;drop table agents", 'app="x"', "app in (a_b,%)", "ap'p=x", "app=a\\_b"]) {
      const err = await trpcError(tenant.client.agents.list.query({ selector }));
      expect(err.data?.httpStatus, selector).toBe(400);
      expect(err.message, selector).toMatch(/position \d+/);
      expect(err.message, selector).toMatch(/expected/);
    }
    const [{ after }] = (await h.cp.db.sql`select count(*)::int as after from agents`) as unknown as [{ after: number }];
    expect(after).toBe(before);
  });

  it("selectorToSql binds keys and values as parameters: quotes, % and _ in them match literally", async () => {
    // Rows with labels the API would never accept, to test the SQL layer on its own.
    const [weird, near] = await insertAgents(h.cp.db.db, tenant.tenantId, [
      { hostname: "weird", hostLabels: { "k'ey": "it's 100%_sure", "pct%": "x" } },
      { hostname: "near", hostLabels: { "k'ey": "it's 100x-sure", "pctX": "x" } },
    ]);
    const run = async (...requirements: Requirement[]) =>
      (
        await h.cp.db.db
          .select({ id: agents.id })
          .from(agents)
          .where(and(eq(agents.tenantId, tenant.tenantId), selectorToSql({ requirements }, sql`${agents.labels}`)))
      )
        .map((r) => r.id)
        .sort();
    expect(await run({ op: "eq", key: "k'ey", value: "it's 100%_sure" })).toEqual([weird]);
    expect(await run({ op: "eq", key: "k'ey", value: "it's 100%" })).toEqual([]);
    expect(await run({ op: "in", key: "k'ey", values: ["it's 100%_sure", "' or '1'='1"] })).toEqual([weird]);
    expect(await run({ op: "eq", key: "k'ey", value: "' or '1'='1" })).toEqual([]);
    expect(await run({ op: "neq", key: "k'ey", value: "it's 100%_sure" })).toEqual([...byValue.values(), near].sort());
    expect(await run({ op: "notin", key: "k'ey", values: ["it's 100%_sure", "it's 100x-sure"] })).toEqual([...byValue.values()].sort());
    expect(await run({ op: "exists", key: "pct%" })).toEqual([weird]);
    expect(await run({ op: "notexists", key: "pct%" })).toEqual([...byValue.values(), near].sort());
    expect(await run({ op: "exists", key: "') or true or ('" })).toEqual([]);
    // Still there.
    expect((await h.cp.db.sql`select count(*)::int as n from agents where id = ${weird!}`)[0]!.n).toBe(1);
  });
});

describe("agents.setLabels", () => {
  let tenant: TestTenant;
  let agentId: string;
  let nc: NatsConnection;

  beforeAll(async () => {
    tenant = await createTenant(h, "labels");
    [agentId] = (await insertAgents(h.cp.db.db, tenant.tenantId, [
      { hostname: "lab-1", hostLabels: { "probepilot.io/hostname": "lab-1", env: "host-env" }, userLabels: { team: "user-team" } },
    ])) as [string];
    // The control plane's own connection to the tenant's account, where the config bucket lives.
    nc = await h.cp.mesh.tenant(tenant.tenantId);
  });

  const auditRows = () => h.cp.db.sql`select action, target, actor, details from audit_log where tenant_id = ${tenant.tenantId} and target = ${agentId} order by id`;

  it("a central label overrides the host label; null removes it and the host label shows again", async () => {
    const set = await tenant.client.agents.setLabels.mutate({ id: agentId, labels: { env: "central", extra: "x" } });
    expect(set.centralLabels).toEqual({ env: "central", extra: "x" });
    expect(set.labels).toEqual({ "probepilot.io/hostname": "lab-1", env: "central", team: "user-team", extra: "x" });
    expect(set.configRevision).toBe(1);
    expect((await tenant.client.agents.list.query({ selector: "env=central" })).items.map((a) => a.id)).toEqual([agentId]);

    const removed = await tenant.client.agents.setLabels.mutate({ id: agentId, labels: { env: null } });
    expect(removed.centralLabels).toEqual({ extra: "x" });
    expect(removed.labels).toEqual({ "probepilot.io/hostname": "lab-1", env: "host-env", team: "user-team", extra: "x" });
    expect(removed.configRevision).toBe(2);
    expect((await tenant.client.agents.get.query({ id: agentId })).labels.env).toBe("host-env");
    expect((await tenant.client.agents.list.query({ selector: "env=central" })).total).toBe(0);
    expect((await tenant.client.agents.list.query({ selector: "env=host-env" })).items.map((a) => a.id)).toEqual([agentId]);

    // A user label under a central one comes back too.
    await tenant.client.agents.setLabels.mutate({ id: agentId, labels: { team: "central-team" } });
    expect((await tenant.client.agents.get.query({ id: agentId })).labels.team).toBe("central-team");
    const back = await tenant.client.agents.setLabels.mutate({ id: agentId, labels: { team: null, extra: null } });
    expect(back.labels).toEqual({ "probepilot.io/hostname": "lab-1", env: "host-env", team: "user-team" });
    expect(back.centralLabels).toEqual({});
    // Host and user layers are never modified.
    const [r] = await h.cp.db.sql`select host_labels, user_labels from agents where id = ${agentId}`;
    expect(r!.host_labels).toEqual({ "probepilot.io/hostname": "lab-1", env: "host-env" });
    expect(r!.user_labels).toEqual({ team: "user-team" });
  });

  it("the new central config reaches the agent's key in the tenant's config bucket", async () => {
    const view = await tenant.client.agents.setLabels.mutate({ id: agentId, labels: { zone: "z1" } });
    const kv = await nc.jetstream().views.kv(agentConfigBucket(tenant.tenantId));
    const entry = await kv.get(agentId);
    expect(entry).not.toBeNull();
    expect(JSONCodec().decode(entry!.value)).toEqual({ centralLabels: { zone: "z1" }, revision: view.configRevision });
  });

  it("every change is in the audit log with the actor, the changes and the labels before", async () => {
    const rows = await auditRows();
    expect(rows.length).toBeGreaterThanOrEqual(5);
    expect(rows.every((r) => r.action === "agent.setLabels")).toBe(true);
    const [me] = await h.cp.db.sql`select id, name from api_tokens where tenant_id = ${tenant.tenantId}`;
    expect(rows.every((r) => r.actor === `token:${me!.name}(${me!.id})`)).toBe(true);
    expect(rows[1]!.details).toEqual({ changes: { env: null }, before: { env: "central", extra: "x" } });
  });

  it("an invalid label key is a 400 whose message names the key, and changes nothing", async () => {
    const before = await tenant.client.agents.get.query({ id: agentId });
    const auditBefore = (await auditRows()).length;
    for (const key of ["Bad Key", "-leading-dash", "a/b/c", "UPPER.example.com/x", "x".repeat(64)]) {
      const err = await trpcError(tenant.client.agents.setLabels.mutate({ id: agentId, labels: { ok: "fine", [key]: "v" } }));
      expect(err.data?.httpStatus, key).toBe(400);
      expect(err.message, key).toContain(JSON.stringify(key));
      // …and says what a valid key looks like.
      expect(err.message, key).toMatch(/must|expected/);
    }
    const bad = await trpcError(tenant.client.agents.setLabels.mutate({ id: agentId, labels: { env: "has space" } }));
    expect(bad.data?.httpStatus).toBe(400);
    expect(bad.message).toContain('"has space"');

    const after = await tenant.client.agents.get.query({ id: agentId });
    expect(after.configRevision).toBe(before.configRevision);
    expect(after.labels).toEqual(before.labels);
    expect((await auditRows()).length).toBe(auditBefore);
  });
});
