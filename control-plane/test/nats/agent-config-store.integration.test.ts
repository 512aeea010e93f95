import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JSONCodec } from "nats";
import { agentConfigBucket, agentConfigNudgeSubject, type AgentConfig } from "@probepilot/shared";
import { NatsAgentConfigStore } from "../../src/nats/agent-config-store.ts";
import { agentPermissions } from "../../src/nats/trust/permissions.ts";
import { tenants } from "../../src/db/schema.ts";
import { startTestMesh } from "@probepilot/testkit/nats-server";
import { eventually } from "@probepilot/testkit/poll";

const json = JSONCodec<AgentConfig>();
let mesh: Awaited<ReturnType<typeof startTestMesh>>;
/** The control plane's connection to a tenant's account (where the config bucket and nudges live). */
const tenantNats = (tenantId: string) => mesh.mesh.tenant(tenantId);
beforeAll(async () => {
  mesh = await startTestMesh();
  await mesh.db.db.insert(tenants).values(["ten_a", "ten_b", "ten_c"].map((id) => ({ id, name: id })));
});
afterAll(async () => {
  await mesh?.stop();
});

const stored = async (tenant: string, agent: string) => {
  const kv = await (await tenantNats(tenant)).jetstream().views.kv(agentConfigBucket(tenant));
  return (await kv.get(agent))?.json<AgentConfig>();
};

describe("agent central config in KV", () => {
  it("stores the config and nudges the agent", async () => {
    const store = new NatsAgentConfigStore(tenantNats);
    await tenantNats("ten_a"); // the tenant's account is on the server
    // Heard as the agent hears it: its own user in the tenant's account.
    const nc = await mesh.mesh.connectAs({ tenantId: "ten_a" }, "agt_1", agentPermissions("ten_a", "agt_1"));
    const nudges: AgentConfig[] = [];
    const sub = nc.subscribe(agentConfigNudgeSubject("ten_a", "agt_1"), { callback: (_e, m) => nudges.push(json.decode(m.data)) });
    await nc.flush(); // the subscription is on the server before the nudge is sent
    await store.publishAgentConfig("ten_a", "agt_1", { centralLabels: { tier: "gold" }, revision: 1 });
    expect(await stored("ten_a", "agt_1")).toEqual({ centralLabels: { tier: "gold" }, revision: 1 });
    await eventually(async () => expect(nudges).toEqual([{ centralLabels: { tier: "gold" }, revision: 1 }]));
    sub.unsubscribe();
    await nc.close();
  });

  it("an older revision published late never overwrites a newer one", async () => {
    const store = new NatsAgentConfigStore(tenantNats);
    await store.publishAgentConfig("ten_b", "agt_2", { centralLabels: { v: "3" }, revision: 3 });
    await store.publishAgentConfig("ten_b", "agt_2", { centralLabels: { v: "2" }, revision: 2 });
    expect(await stored("ten_b", "agt_2")).toEqual({ centralLabels: { v: "3" }, revision: 3 });
  });

  it("concurrent publishes end with the highest revision", async () => {
    const stores = [new NatsAgentConfigStore(tenantNats), new NatsAgentConfigStore(tenantNats), new NatsAgentConfigStore(tenantNats)];
    await Promise.all(Array.from({ length: 12 }, (_, i) => stores[i % 3]!.publishAgentConfig("ten_c", "agt_3", { centralLabels: { v: String(i + 1) }, revision: i + 1 })));
    expect((await stored("ten_c", "agt_3"))?.revision).toBe(12);
  });
});
