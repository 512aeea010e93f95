/**
 * Issue 11, item 8: selectors, label sets and list inputs are bounded before anything
 * is written, and what a failing query logs is bounded too. The issue's three
 * reproductions, against a real control plane (Postgres, nats-server).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sql } from "drizzle-orm";
import { agentConfigBucket, LABELS_MAX_COUNT, NATS_DEFAULT_MAX_PAYLOAD, SELECTOR_MAX_LENGTH, SELECTOR_MAX_REQUIREMENTS, parseSelector, type AgentConfig } from "@probepilot/shared";
import { eventually, sleep } from "@probepilot/testkit/poll";
import { createLogger } from "../../src/logger.ts";
import { trpcError } from "@probepilot/testkit/trpc-error";
import { startHarness, type Harness } from "@probepilot/testkit/control-plane-harness";
import { insertAgents } from "@probepilot/testkit/agent-rows";

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

let h: Harness;
let tenantId: string;
/** What the control plane logs (info and up), one JSON line each. */
const logLines: string[] = [];
beforeAll(async () => {
  h = await startHarness({}, { log: createLogger("info", {}, { write: (line: string) => void logLines.push(line) }) });
  tenantId = (await h.client().system.whoami.query()).tenantId;
});
afterAll(async () => {
  await h?.stop();
});

const count = async (table: string) => (await h.cp.db.sql`select count(*)::int as n from ${h.cp.db.sql(table)}`)[0]!.n as number;
const centralLabels = async (id: string) => (await h.cp.db.sql`select central_labels from agents where id = ${id}`)[0]!.central_labels as Record<string, string>;
const storedConfig = async (agentId: string) => {
  // The tenant's account holds the config bucket: read it over the control plane's connection there.
  const kv = await (await h.cp.mesh.tenant(tenantId)).jetstream().views.kv(agentConfigBucket(tenantId));
  const entry = await kv.get(agentId);
  return entry ? { config: entry.json<AgentConfig>(), bytes: entry.value.length } : undefined;
};

describe("label sets", () => {
  it("70,000 labels are refused before anything is written: over the body limit (413) unread, and under it with the count and the limit", async () => {
    const [agent] = (await insertAgents(h.cp.db.db, tenantId, [{ hostname: "big-labels", centralLabels: { tier: "gold" } }])) as [string];
    const audits = await count("audit_log");
    // 70,000 labels are 1.5 MB of JSON: the API's body limit (1 MiB) refuses them before they are read.
    const huge = Object.fromEntries(range(70_000).map((i) => [`key${i}`, `value${i}`]));
    const tooLarge = await trpcError(h.client().agents.setLabels.mutate({ id: agent, labels: huge }));
    expect(tooLarge.data?.httpStatus).toBe(413);
    // 20,000 fit in a body: the label set's own limit refuses them, saying how many were sent.
    const many = Object.fromEntries(range(20_000).map((i) => [`key${i}`, `value${i}`]));
    const err = await trpcError(h.client().agents.setLabels.mutate({ id: agent, labels: many }));
    expect(err.data?.httpStatus).toBe(400);
    expect(err.message).toBe("invalid input: labels: at most 128 labels in one label set (20,000 given)");
    expect(await centralLabels(agent)).toEqual({ tier: "gold" });
    expect(await count("audit_log")).toBe(audits);
    expect(await storedConfig(agent)).toBeUndefined();
  });

  it("changes that would grow the central set past the limit are refused, and nothing is written", async () => {
    const existing = Object.fromEntries(range(100).map((i) => [`old${i}`, "x"]));
    const [agent] = (await insertAgents(h.cp.db.db, tenantId, [{ hostname: "growing", centralLabels: existing }])) as [string];
    const audits = await count("audit_log");
    const err = await trpcError(h.client().agents.setLabels.mutate({ id: agent, labels: Object.fromEntries(range(40).map((i) => [`new${i}`, "y"])) }));
    expect(err.data?.httpStatus).toBe(400);
    expect(err.message).toBe(`central labels of agent "${agent}" after these changes: at most 128 labels in one label set (140 given); remove some (a null value removes a label)`);
    expect(await centralLabels(agent)).toEqual(existing);
    expect(await count("audit_log")).toBe(audits);
    // Removing some in the same call makes room.
    const changes = { ...Object.fromEntries(range(40).map((i) => [`new${i}`, "y"])), ...Object.fromEntries(range(12).map((i) => [`old${i}`, null])) };
    const view = await h.client().agents.setLabels.mutate({ id: agent, labels: changes });
    expect(Object.keys(view.centralLabels)).toHaveLength(LABELS_MAX_COUNT);
  });

  it("the largest central set the limits allow reaches the agent's config key, far under NATS's max payload", async () => {
    const [agent] = (await insertAgents(h.cp.db.db, tenantId, [{ hostname: "full-labels" }])) as [string];
    // 128 labels of 63-character keys and values: 16,128 bytes of the 16,384 allowed.
    const labels = Object.fromEntries(range(LABELS_MAX_COUNT).map((i) => [`k${i}`.padEnd(63, "x"), "v".repeat(63)]));
    const view = await h.client().agents.setLabels.mutate({ id: agent, labels });
    expect(view.centralLabels).toEqual(labels);
    const stored = await storedConfig(agent);
    expect(stored?.config.centralLabels).toEqual(labels);
    expect(stored!.bytes).toBeLessThan(NATS_DEFAULT_MAX_PAYLOAD / 16);
  });
});

describe("selectors", () => {
  const create = (selector: string) => h.client().rollouts.create.mutate({ probe: "host", selector });

  it.each([
    ["a 70,000-value in (the issue's 500)", `k in (${range(70_000).map((i) => `v${i}`).join(",")})`, /: too long: at most 8,192 characters \(\d{3},\d{3} given\)$/],
    ["a 20,000-requirement selector (accepted before, then failing every engine pass)", range(20_000).map((i) => `k${i}=v`).join(","), /: too long: at most 8,192 characters \(\d{3},\d{3} given\)$/],
    ["65 requirements", range(65).map((i) => `k${i}`).join(","), /: at most 64 requirements \(65 given\); one "key in \(a,b\)" takes several values of a key$/],
    ["257 values in one set", `k notin (${range(257).map((i) => `v${i}`).join(",")})`, /: at most 256 values in one "notin" set \(257 given\)$/],
  ])("rollouts.create refuses %s with a 400 saying the limit and the count, and creates nothing", async (_name, selector, message) => {
    const rollouts = await count("rollouts");
    const err = await trpcError(create(selector));
    expect(err.data?.httpStatus).toBe(400);
    expect(err.message).toMatch(/^invalid input: selector: selector "/);
    expect(err.message).toMatch(message);
    expect(err.message.length).toBeLessThan(600);
    expect(await count("rollouts")).toBe(rollouts);
  });

  it("queries refuse an oversized selector the same way", async () => {
    const selector = `k in (${range(257).map((i) => `v${i}`).join(",")})`;
    for (const call of [() => h.client().agents.list.query({ selector }), () => h.client().rollouts.preview.query({ probe: "host", selector })]) {
      const err = await trpcError(call());
      expect(err.data?.httpStatus).toBe(400);
      expect(err.message).toMatch(/at most 256 values in one "in" set \(257 given\)$/);
    }
  });

  it("a selector at the limits still works end to end", async () => {
    await insertAgents(h.cp.db.db, tenantId, [{ hostname: "limit-match", hostLabels: { k: "v255", e0: "x" } }]);
    const selector = [`k in (${range(256).map((i) => `v${i}`).join(",")})`, ...range(63).map((i) => `e${i} notin (nope)`)].join(",");
    const page = await h.client().agents.list.query({ selector });
    expect(page.items.map((a) => a.hostname)).toEqual(["limit-match"]);
  });
});

describe("the largest selectors the limits allow", () => {
  it("a rollout over one (64 requirements, ~2,500 values: ~5,000 query parameters) is created, previewed and evaluated by the engine without an error", async () => {
    // Two-character values, as many as fit: the most values, so the most query parameters, per character.
    const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    const pairs = [...alphabet].flatMap((a) => [...alphabet].map((b) => a + b));
    const perSet = Math.floor((SELECTOR_MAX_LENGTH / SELECTOR_MAX_REQUIREMENTS - "k00 notin (),".length) / 3);
    const selector = range(SELECTOR_MAX_REQUIREMENTS)
      .map((r) => `k${String(r).padStart(2, "0")} ${r % 2 ? "notin" : "in"} (${pairs.slice(r * perSet, (r + 1) * perSet).join(",")})`)
      .join(",");
    expect(selector.length).toBeLessThanOrEqual(SELECTOR_MAX_LENGTH);
    const values = parseSelector(selector).requirements.reduce((n, r) => n + ("values" in r ? r.values.length : 0), 0);
    expect(values).toBeGreaterThan(2_000);
    // An agent it matches: every "in" key holds its set's first value, no "notin" key is set.
    const labels = Object.fromEntries(range(SELECTOR_MAX_REQUIREMENTS).filter((r) => r % 2 === 0).map((r) => [`k${String(r).padStart(2, "0")}`, pairs[r * perSet]!]));
    const [agent] = (await insertAgents(h.cp.db.db, tenantId, [{ hostname: "max-selector", hostLabels: labels }])) as [string];

    const preview = await h.client().rollouts.preview.query({ probe: "oom_kills", selector });
    expect(preview.matching).toBe(1);
    const rollout = await h.client().rollouts.create.mutate({ probe: "oom_kills", selector, strategy: { waves: [{ percent: 100 }], onFailure: "pause" } });
    expect(rollout.matching).toBe(1);
    // The engine takes it up (its agent becomes a member) and no pass or evaluation fails.
    await eventually(async () => {
      const agents = await h.client().rollouts.agents.query({ id: rollout.id });
      expect(agents.items.map((a) => a.agentId)).toEqual([agent]);
    });
    await sleep(1500); // a few more passes over it
    const failures = logLines.filter((l) => /rollout (engine pass|evaluation) failed|tRPC procedure failed/.test(l));
    expect(failures.map((l) => l.slice(0, 400))).toEqual([]);
  });
});

describe("a failing query with 70,000 parameters", () => {
  it("is logged in a bounded line: the parameters counted, never listed", async () => {
    const lines: string[] = [];
    const log = createLogger("info", {}, { write: (line: string) => void lines.push(line) });
    const values = range(70_000).map((i) => `secret-${i}`);
    const failure = await h.cp.db.db.execute(sql`select 1 where 'x' in (${sql.join(values.map((v) => sql`${v}`), sql`, `)})`).then(
      () => null,
      (err: unknown) => err,
    );
    expect((failure as Error).constructor.name).toBe("DrizzleQueryError");
    expect((failure as Error).message.length).toBeGreaterThan(500_000);
    log.error({ err: failure }, "rollout engine pass failed");
    expect(lines).toHaveLength(1);
    expect(lines[0]!.length).toBeLessThan(16 * 1024);
    const entry = JSON.parse(lines[0]!);
    expect(entry.err.params.count).toBe(70_000);
    expect(entry.err.query).toMatch(/^select 1 where 'x' in \(\$1, \$2, /);
    expect(lines[0]).not.toContain("secret-69999");
  });
});
