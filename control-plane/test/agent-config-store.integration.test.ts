import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, JSONCodec, type NatsConnection } from "nats";
import { agentConfigBucket, agentConfigNudgeSubject, type AgentConfig } from "@probepilot/shared";
import { NatsAgentConfigStore } from "../src/nats/agent-config-store.ts";
import { startNatsServer, type TestNatsServer } from "./support/nats-server.ts";

const json = JSONCodec<AgentConfig>();
let nats: TestNatsServer;
let nc: NatsConnection;
beforeAll(async () => {
  nats = await startNatsServer();
  nc = await connect({ servers: nats.url });
});
afterAll(async () => {
  await nc?.close();
  await nats?.stop();
});

const stored = async (tenant: string, agent: string) => {
  const kv = await nc.jetstream().views.kv(agentConfigBucket(tenant));
  return (await kv.get(agent))?.json<AgentConfig>();
};

describe("agent central config in KV", () => {
  it("stores the config and nudges the agent", async () => {
    const store = new NatsAgentConfigStore(nc);
    const nudges: AgentConfig[] = [];
    const sub = nc.subscribe(agentConfigNudgeSubject("ten_a", "agt_1"), { callback: (_e, m) => nudges.push(json.decode(m.data)) });
    await store.publishAgentConfig("ten_a", "agt_1", { centralLabels: { tier: "gold" }, revision: 1 });
    await nc.flush();
    expect(await stored("ten_a", "agt_1")).toEqual({ centralLabels: { tier: "gold" }, revision: 1 });
    expect(nudges).toEqual([{ centralLabels: { tier: "gold" }, revision: 1 }]);
    sub.unsubscribe();
  });

  it("an older revision published late never overwrites a newer one", async () => {
    const store = new NatsAgentConfigStore(nc);
    await store.publishAgentConfig("ten_b", "agt_2", { centralLabels: { v: "3" }, revision: 3 });
    await store.publishAgentConfig("ten_b", "agt_2", { centralLabels: { v: "2" }, revision: 2 });
    expect(await stored("ten_b", "agt_2")).toEqual({ centralLabels: { v: "3" }, revision: 3 });
  });

  it("concurrent publishes end with the highest revision", async () => {
    const stores = [new NatsAgentConfigStore(nc), new NatsAgentConfigStore(nc), new NatsAgentConfigStore(nc)];
    await Promise.all(Array.from({ length: 12 }, (_, i) => stores[i % 3]!.publishAgentConfig("ten_c", "agt_3", { centralLabels: { v: String(i + 1) }, revision: i + 1 })));
    expect((await stored("ten_c", "agt_3"))?.revision).toBe(12);
  });
});
