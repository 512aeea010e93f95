import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { parseCreds, jwtExpiresAt } from "@probepilot/shared/nkeys";
import { startHarness, type Harness } from "@probepilot/testkit/control-plane-harness";
import { realHello, startInProcessAgent, tempDir, type InProcessAgent } from "../support/in-process-agent.ts";
import { waitFor } from "@probepilot/testkit/poll";
import { AGENT_BIN } from "@probepilot/testkit/bins";

/**
 * The agent's NATS credentials over their life: renewed over NATS before they
 * expire, renewed over HTTP when they expired while the agent was off, and a
 * revoked agent stopping for good. JWTs live 12 s here (24 h by default).
 */
const TTL_SEC = 12;
let h: Harness;
let enrollToken: string;
const cleanup: (() => Promise<void>)[] = [];

beforeAll(async () => {
  h = await startHarness({ PROBEPILOT_AGENT_JWT_TTL_SEC: String(TTL_SEC) });
  enrollToken = (await h.client().enrollTokens.create.mutate({ description: "credentials" })).token;
});
afterAll(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => {});
  await h?.stop();
});

const credsExpiry = async (dataDir: string) => jwtExpiresAt(parseCreds(await readFile(path.join(dataDir, "nats.creds"), "utf8")).jwt)!;
const lastSeenMs = async (agentId: string) => Number((await h.cp.db.sql<{ ms: string }[]>`select (extract(epoch from last_seen_at) * 1000)::float8::text as ms from agents where id = ${agentId}`)[0]!.ms);

describe("an agent's NATS credentials", () => {
  let dir: { dir: string; remove: () => Promise<void> };
  let a: InProcessAgent;

  it("are renewed over NATS before they expire, and the agent keeps reporting past the first JWT's expiry", async () => {
    dir = await tempDir("pp-creds-");
    cleanup.push(() => dir.remove());
    a = await startInProcessAgent({ ...h.agentEndpoints, dataDir: dir.dir, hello: await realHello({ suite: "credentials" }), enrollToken, heartbeatSec: 1, defaultProbes: [] });
    cleanup.push(() => a.stop());
    const firstExpiry = await credsExpiry(dir.dir);
    expect(firstExpiry - Date.now()).toBeLessThanOrEqual(TTL_SEC * 1000);
    // Renewed at two thirds of its life: a new JWT on disk before the first one runs out.
    const renewedExpiry = await waitFor(async () => {
      const e = await credsExpiry(dir.dir);
      return e > firstExpiry ? e : undefined;
    }, { what: "a renewed JWT in nats.creds", timeoutMs: TTL_SEC * 1000 });
    expect(Date.now()).toBeLessThan(firstExpiry);
    expect(renewedExpiry).toBeGreaterThan(firstExpiry);
    // Past the first JWT's expiry the agent is still connected and its heartbeats still land.
    await waitFor(async () => (Date.now() > firstExpiry + 2000 ? true : undefined), { what: "the first JWT to be past expiry", timeoutMs: TTL_SEC * 1000 });
    const seen = await lastSeenMs(a.agentId);
    await waitFor(async () => ((await lastSeenMs(a.agentId)) > seen ? true : undefined), { what: "heartbeats after the first JWT expired", timeoutMs: 10_000 });
    expect(a.natsEvents.some((e) => e.type === "error")).toBe(false);
    expect((await h.client().agents.get.query({ id: a.agentId })).status).toBe("online");
  });

  it("that expired while the agent was off are renewed over HTTP at its next start (proof signed with its seed)", async () => {
    await a.stop();
    const expiredAt = await credsExpiry(dir.dir);
    await waitFor(async () => (Date.now() > expiredAt + 1000 ? true : undefined), { what: "the stored JWT to expire", timeoutMs: (TTL_SEC + 5) * 1000 });
    a = await startInProcessAgent({ ...h.agentEndpoints, dataDir: dir.dir, hello: await realHello({ suite: "credentials" }), heartbeatSec: 1, defaultProbes: [] }).catch(async (err) => {
      throw new Error(`the agent did not start with an expired JWT: ${(err as Error).message}`);
    });
    // …but only because the credentials were renewed first: the in-process start renews like main.ts does.
    expect(await credsExpiry(dir.dir)).toBeGreaterThan(Date.now());
    await waitFor(async () => ((await h.client().agents.get.query({ id: a.agentId })).status === "online" ? true : undefined), { what: "online again" });
  });
});

describe("a revoked agent process", () => {
  it("is cut off by NATS, stops with exit code 78 and says why", async () => {
    const dir = await tempDir("pp-revoked-");
    cleanup.push(() => dir.remove());
    const child: ChildProcess = spawn(process.execPath, [AGENT_BIN, ...h.agentArgs, "--default-probes", "none", "--data-dir", dir.dir, "--heartbeat", "1", "--http", "off", "--enroll-token", enrollToken], { stdio: ["ignore", "pipe", "pipe"] });
    cleanup.push(async () => void child.kill("SIGKILL"));
    let output = "";
    child.stdout!.on("data", (d) => (output += d));
    child.stderr!.on("data", (d) => (output += d));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    const agent = await waitFor(async () => (await h.client().agents.list.query({ selector: "suite!=credentials" })).items.find((x) => x.status === "online"), { what: "the agent online", timeoutMs: 20_000, debug: () => output });
    await h.client().agents.revoke.mutate({ id: agent.id });
    const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r("still running after 20 s"), 20_000))]);
    expect(code, output.split("\n").filter((l) => !l.includes("host detected")).join("\n").slice(-3000)).toBe(78);
    expect(output).toMatch(/this agent was revoked/);
    expect((await h.client().agents.get.query({ id: agent.id })).status).toBe("revoked");

    // Started again (a supervisor that ignores exit code 78): NATS refuses it, the control plane says why, it stops again.
    const again = spawn(process.execPath, [AGENT_BIN, ...h.agentArgs, "--default-probes", "none", "--data-dir", dir.dir, "--http", "off"], { stdio: ["ignore", "pipe", "pipe"] });
    cleanup.push(async () => void again.kill("SIGKILL"));
    let againOutput = "";
    again.stdout!.on("data", (d) => (againOutput += d));
    const againCode = await Promise.race([new Promise<number | null>((resolve) => again.once("exit", (c) => resolve(c))), new Promise<string>((r) => setTimeout(() => r("still running after 20 s"), 20_000))]);
    expect(againCode, againOutput.slice(-2000)).toBe(78);
    expect(againOutput).toMatch(/NATS refused this agent's credentials/);
    expect(againOutput).toMatch(/was revoked at/);
  });
});
