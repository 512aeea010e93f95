import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pino } from "pino";
import type { NatsConnection } from "nats";
import { agentConfigNudgeSubject, type AgentStatusMessage } from "@probepilot/shared";
import { startHarness, type Harness } from "@probepilot/testkit/control-plane-harness";
import { StatusReporter } from "../src/bus/status-reporter.ts";
import { createAgentMetrics } from "../src/metrics.ts";
import { waitFor } from "@probepilot/testkit/poll";
import { StatusTap, realHello, startInProcessAgent, tempDir, type InProcessAgent } from "./support/in-process-agent.ts";

/**
 * The goodbye is an agent's last status message: the control plane orders an
 * agent's messages by seq, so anything published after the goodbye (with a
 * higher seq) would flip a stopped agent back online.
 */

let h: Harness;
let ops: NatsConnection;
let tap: StatusTap;
let dir: { dir: string; remove: () => Promise<void> };
let a: InProcessAgent | undefined;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Longer than the reporter's 100 ms change coalescing, so a wrongly scheduled status would have gone out. */
const SETTLE_MS = 600;

beforeAll(async () => {
  h = await startHarness();
  dir = await tempDir("pp-agent-stop-");
  ops = await h.platformNats("pp-test-ops");
  tap = new StatusTap(ops);
});

afterAll(async () => {
  // The test stops the agent but keeps its connection open (a closed one would hide a late publish).
  await a?.agent.stop("test done");
  await a?.nc.close();
  tap?.stop();
  await ops?.close();
  await h?.stop();
  await dir?.remove();
});

function messagesOf(agentId: string): AgentStatusMessage[] {
  return tap.messages.filter((m) => m.agentId === agentId);
}

/** The goodbye is there, it is the last message received, and no message has a higher seq. */
function expectGoodbyeLast(agentId: string): void {
  const mine = messagesOf(agentId);
  const goodbyes = mine.filter((m) => m.type === "goodbye");
  expect(goodbyes).toHaveLength(1);
  expect(mine.at(-1)).toBe(goodbyes[0]);
  expect(Math.max(...mine.map((m) => m.seq))).toBe(goodbyes[0]!.seq);
}

describe("StatusReporter after stop()", () => {
  it("publishes nothing after its goodbye: changes, heartbeats and start() are no-ops", async () => {
    const tenantId = "ten_reporter_test";
    const agentId = "agt_reporter_test";
    const state = () => ({ labels: {}, appliedPolicies: {}, probes: [], conflicts: [], invalidPolicies: {} });
    const reporter = new StatusReporter(ops.jetstream(), tenantId, agentId, 0.1, state, pino({ level: "silent" }), createAgentMetrics());
    reporter.start();
    await waitFor(async () => (messagesOf(agentId).some((m) => m.type === "heartbeat") ? true : undefined), { what: "a first status and heartbeat" });
    reporter.changed(); // pending when stop() comes: cancelled
    await reporter.stop("test");
    reporter.changed();
    reporter.start();
    await reporter.stop("again"); // a second stop sends no second goodbye
    await sleep(SETTLE_MS);
    expectGoodbyeLast(agentId);
    expect(messagesOf(agentId).at(-1)).toMatchObject({ type: "goodbye", reason: "test" });
  });
});

describe("Agent.stop()", () => {
  it("a central config nudge arriving while the goodbye is published does not follow it with a status", async () => {
    const enrollToken = (await h.client().enrollTokens.create.mutate({ description: "agent stop" })).token;
    a = await startInProcessAgent({ ...h.agentEndpoints, dataDir: dir.dir, hello: await realHello({ suite: "agent-stop" }), enrollToken });
    const agentId = a.agentId;
    await waitFor(async () => tap.latest(agentId), { what: "a first status message" });

    // Sent on the agent's own connection just before stop(): the nudge comes back from the server
    // while stop() is under way (before the goodbye's JetStream ack).
    a.nc.publish(agentConfigNudgeSubject(a.tenantId, agentId), JSON.stringify({ centralLabels: { tier: "gold" }, revision: 1_000_000 }));
    await a.agent.stop("test stop");
    await sleep(SETTLE_MS);

    expectGoodbyeLast(agentId);
    expect(messagesOf(agentId).at(-1)).toMatchObject({ type: "goodbye", reason: "test stop" });
    // The control plane saw the goodbye last: the agent is offline and stays so.
    await waitFor(async () => ((await h.client().agents.get.query({ id: agentId })).status === "offline" ? true : undefined), { what: "agent offline after its goodbye" });
  });
});
