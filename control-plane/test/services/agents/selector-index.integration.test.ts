import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { drizzle } from "drizzle-orm/postgres-js";
import * as schema from "../../../src/db/schema.ts";
import { listAgents } from "../../../src/services/agents/list-agents.ts";
import { startHarness, type Harness } from "@probepilot/testkit/control-plane-harness";
import { insertAgents } from "@probepilot/testkit/agent-rows";
import { createTenant, type TestTenant } from "@probepilot/testkit/tenants";

const FLEET = 4000;

let h: Harness;
let tenant: TestTenant;
beforeAll(async () => {
  h = await startHarness();
  tenant = await createTenant(h, "gin");
  // 1 agent in 100 is env=prod, 1 in 50 is canary; everything is in one tenant, so only the labels narrow it down.
  await insertAgents(
    h.cp.db.db,
    tenant.tenantId,
    Array.from({ length: FLEET }, (_, i) => ({
      hostname: `gin-${i}`,
      hostLabels: { env: i % 100 === 0 ? "prod" : i % 2 ? "dev" : "staging", region: ["eu", "us", "ap"][i % 3]!, ...(i % 50 === 1 ? { canary: "" } : {}) },
    })),
  );
  await h.cp.db.sql`analyze agents`;
});
afterAll(async () => {
  await h?.stop();
});

/** The statements `listAgents` sends for `selector`, with their parameters, and its result. */
async function listAgentsStatements(selector: string) {
  const statements: { query: string; params: unknown[] }[] = [];
  const db = drizzle(h.cp.db.sql, { schema, logger: { logQuery: (query, params) => void statements.push({ query, params }) } });
  const result = await listAgents(db, tenant.tenantId, { selector, limit: 100 });
  return { statements, result };
}

/**
 * Index names in the plan of each statement. Seq scans are switched off for the
 * session: on a table this small the planner may prefer reading it all, and
 * what this checks is that the predicate *can* be answered by the index.
 */
async function indexesUsed(statements: { query: string; params: unknown[] }[]): Promise<string[][]> {
  const conn = await h.cp.db.sql.reserve();
  try {
    await conn`set enable_seqscan = off`;
    const out: string[][] = [];
    for (const s of statements) {
      const [row] = await conn.unsafe(`explain (format json) ${s.query}`, s.params as never[]);
      const names: string[] = [];
      JSON.stringify(row!["QUERY PLAN"], (key, value) => {
        if (key === "Index Name") names.push(value as string);
        return value;
      });
      out.push(names);
    }
    return out;
  } finally {
    await conn`reset enable_seqscan`;
    conn.release();
  }
}

describe("agents.list selectors use the GIN index on labels", () => {
  for (const [selector, expected] of [
    ["env=prod", FLEET / 100],
    ["env in (prod,qa)", FLEET / 100],
    ["canary", FLEET / 50],
    ["env=prod,region=eu", Math.ceil(FLEET / 300)],
  ] as const) {
    it(`${selector}: both the page and the count read agents_labels_gin_idx`, async () => {
      const { statements, result } = await listAgentsStatements(selector);
      expect(result.total).toBe(expected);
      expect(statements).toHaveLength(2);
      for (const [i, names] of (await indexesUsed(statements)).entries()) {
        expect(names, `${selector}: ${statements[i]!.query}`).toContain("agents_labels_gin_idx");
      }
    });
  }
});
