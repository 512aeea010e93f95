import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KV, NatsConnection } from "nats";
import { TELEMETRY_STREAM, TelemetryBatchSchema, policyBucket, telemetrySubject, type Policy, type TelemetryBatch } from "@probepilot/shared";
import { startHarness, type Harness } from "@probepilot/testkit/control-plane-harness";
import { waitFor } from "@probepilot/testkit/poll";
import { realHello, startInProcessAgent, tempDir, type InProcessAgent } from "../support/in-process-agent.ts";

/**
 * The agent outlives a nats-server restart (same port, same JetStream store):
 * its policy watch sees writes made after the restart, heartbeats reach Postgres
 * again through the control plane (which reconnects too), and telemetry flows again.
 */

let h: Harness;
let ops: NatsConnection;
let dir: { dir: string; remove: () => Promise<void> };
let a: InProcessAgent;

beforeAll(async () => {
  h = await startHarness();
  dir = await tempDir("pp-reconnect-");
  ops = await h.platformNats("pp-test-ops");
  const enrollToken = (await h.client().enrollTokens.create.mutate({ description: "reconnect" })).token;
  a = await startInProcessAgent({
    ...h.agentEndpoints,
    dataDir: dir.dir,
    hello: await realHello({ suite: "reconnect" }),
    enrollToken,
    defaultProbes: ["host"],
  });
});

afterAll(async () => {
  await a?.stop();
  await ops?.close();
  await h?.stop();
  await dir?.remove();
});

/** agents.last_seen_at in Unix ms, straight from the table through the control plane's own pool (the agent package does not depend on postgres.js). */
async function lastSeenAt(): Promise<number> {
  const [row] = await h.cp.db.sql<{ ms: string }[]>`select (extract(epoch from last_seen_at) * 1000)::float8::text as ms from agents where id = ${a.agentId}`;
  return Number(row!.ms);
}

/** The newest host batch stored in PP_TELEMETRY for this agent (a fresh read each time, no consumer to survive the restart). */
async function lastHostBatch(): Promise<TelemetryBatch | undefined> {
  const jsm = await ops.jetstreamManager();
  const msg = await jsm.streams.getMessage(TELEMETRY_STREAM, { last_by_subj: telemetrySubject(a.tenantId, a.agentId, "host") }).catch(() => undefined);
  return msg ? TelemetryBatchSchema.parse(msg.json()) : undefined;
}

function hostPolicy(policyId: string, version: string): Policy {
  return {
    policyId,
    rolloutId: `rol_${policyId}`,
    probe: { kind: "host", version, specHash: `sha256:${version}`, params: { intervalMs: 200 } },
    selector: "suite=reconnect",
    stage: { cutBasisPoints: 10_000, agentIds: [] },
    revision: 0,
    updatedAt: Date.now(),
  };
}

describe("agent across a nats-server restart", () => {
  it("works before the restart: online in Postgres, telemetry stored, policies applied", async () => {
    await waitFor(async () => ((await h.client().agents.get.query({ id: a.agentId })).status === "online" ? true : undefined), { what: "agent online" });
    await waitFor(async () => ((await lastHostBatch())?.probeVersion === "builtin" ? true : undefined), { what: "builtin host telemetry" });
    const kv: KV = await (await h.cp.mesh.tenant(a.tenantId)).jetstream().views.kv(policyBucket(a.tenantId), { bindOnly: true });
    await kv.put("pol_before", JSON.stringify(hostPolicy("pol_before", "before")));
    await waitFor(async () => (a.agent.probeStatuses().find((p) => p.kind === "host" && p.policyId === "pol_before" && p.state === "running") ? true : undefined), { what: "pol_before applied" });
  });

  it("after a restart: a policy written afterwards is applied promptly, heartbeats reach Postgres, telemetry resumes", async () => {
    const seenBefore = await lastSeenAt();
    const batchBefore = (await lastHostBatch())!;
    const disconnectsBefore = a.natsEvents.filter((e) => e.type === "disconnect").length;

    await h.nats.restart();
    const restartedAt = Date.now();
    const reconnect = await waitFor(async () => a.natsEvents.find((e) => e.type === "reconnect" && e.at >= restartedAt - 1000), { what: "the agent's connection to reconnect", timeoutMs: 15_000 });
    expect(a.natsEvents.filter((e) => e.type === "disconnect").length).toBeGreaterThan(disconnectsBefore);

    // A policy written after the restart must reach the agent's watch. The writer is the control
    // plane's connection to the tenant's account: once it is back (a request sent while it is
    // still reconnecting would be lost and time out).
    const writer = await h.cp.mesh.tenant(a.tenantId);
    await waitFor(() => writer.flush().then(() => true, () => undefined), { what: "the control plane's tenant connection to reconnect", timeoutMs: 10_000 });
    const kv: KV = await writer.jetstream().views.kv(policyBucket(a.tenantId), { bindOnly: true });
    const writtenAt = Date.now();
    await kv.put("pol_after", JSON.stringify(hostPolicy("pol_after", "after")));
    await waitFor(async () => (a.agent.probeStatuses().find((p) => p.kind === "host" && p.policyId === "pol_after" && p.state === "running") ? true : undefined), {
      what: "a policy written after the restart to be applied",
      // Well under nats.js's own ordered-consumer recovery (two missed 5 s idle heartbeats), so the agent has to notice the reconnect itself.
      timeoutMs: 5_000,
      debug: () => JSON.stringify({ probes: a.agent.probeStatuses(), events: a.natsEvents, writtenAt }),
    });

    // Heartbeats (every second) are written to Postgres again by the control plane's status consumer.
    await waitFor(async () => {
      const seen = await lastSeenAt();
      return seen > seenBefore && seen > reconnect.at ? seen : undefined;
    }, { what: "last_seen_at to advance after the reconnect", timeoutMs: 15_000 });
    expect((await h.client().agents.get.query({ id: a.agentId })).status).toBe("online");

    // Telemetry is stored again, from the probe the new policy started.
    const after = await waitFor(async () => {
      const b = await lastHostBatch();
      return b && b.sentAt > reconnect.at && b.probeVersion === "after" ? b : undefined;
    }, { what: "telemetry after the reconnect" });
    expect(after.agentId).toBe(a.agentId);
    expect(after.seq).toBeGreaterThan(batchBefore.seq);
  });

  it("keeps reconciling: deleting the policy after the restart falls back to the built-in host probe", async () => {
    const kv: KV = await (await h.cp.mesh.tenant(a.tenantId)).jetstream().views.kv(policyBucket(a.tenantId), { bindOnly: true });
    await kv.delete("pol_before");
    await kv.delete("pol_after");
    await waitFor(async () => {
      const host = a.agent.probeStatuses().find((p) => p.kind === "host");
      return host?.version === "builtin" && host.state === "running" && host.policyId === undefined ? true : undefined;
    }, { what: "built-in host probe back", timeoutMs: 5_000, debug: () => JSON.stringify(a.agent.probeStatuses()) });
  });
});
