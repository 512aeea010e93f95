import { afterAll, beforeAll, describe, expect, it } from "vitest";
import net from "node:net";
import { newId } from "@probepilot/shared";
import { startHarness, type Harness } from "@probepilot/testkit/control-plane-harness";
import { metricValue, scrape } from "@probepilot/testkit/metrics-text";
import { trpcError } from "@probepilot/testkit/trpc-error";
import { parseControlPlaneEnv } from "../../src/env.ts";

/**
 * Request bodies over PROBEPILOT_MAX_BODY_BYTES (64 KiB here, 1 MiB by default)
 * are refused with 413 before anything reads or parses them, and the control
 * plane carries on.
 */
const LIMIT = 64 * 1024;
let h: Harness;

beforeAll(async () => {
  h = await startHarness({ PROBEPILOT_MAX_BODY_BYTES: String(LIMIT) });
});
afterAll(async () => {
  await h?.stop();
});

const post = (path: string, body: string | ReadableStream<Uint8Array>, headers: Record<string, string> = {}, init: RequestInit = {}) =>
  fetch(`${h.cp.url}/trpc/${path}`, { method: "POST", body, headers: { "content-type": "application/json", authorization: `Bearer ${h.adminToken}`, ...headers }, ...init });

/** Send raw bytes over TCP and resolve with the first response head (status line and headers) the server writes. */
function rawRequest(head: string, body: string): Promise<{ statusLine: string; headers: string; ms: number }> {
  const { hostname, port } = new URL(h.cp.url);
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = net.connect(Number(port), hostname, () => socket.write(head + body));
    let got = "";
    socket.setEncoding("latin1");
    socket.on("data", (chunk) => {
      got += chunk;
      const end = got.indexOf("\r\n\r\n");
      if (end >= 0) {
        socket.destroy();
        resolve({ statusLine: got.slice(0, got.indexOf("\r\n")), headers: got.slice(0, end), ms: performance.now() - started });
      }
    });
    socket.on("error", reject);
    setTimeout(() => (socket.destroy(), reject(new Error(`no response within 5 s; got ${JSON.stringify(got)}`))), 5000);
  });
}

describe("the request body limit", () => {
  it("defaults to 1 MiB and is configurable", () => {
    const base = { DATABASE_URL: "postgres://x@127.0.0.1/x" };
    expect(parseControlPlaneEnv(base).PROBEPILOT_MAX_BODY_BYTES).toBe(1024 * 1024);
    expect(parseControlPlaneEnv({ ...base, PROBEPILOT_MAX_BODY_BYTES: "4096" }).PROBEPILOT_MAX_BODY_BYTES).toBe(4096);
    expect(() => parseControlPlaneEnv({ ...base, PROBEPILOT_MAX_BODY_BYTES: "10" })).toThrow(/PROBEPILOT_MAX_BODY_BYTES must be at least 1024/);
  });

  it("refuses a body over the limit with 413 before parsing it: not valid JSON, yet not a 400", async () => {
    const before = metricValue(await scrape(h.cp.url), "probepilot_http_refused_total", { reason: "body_too_large" });
    const res = await post("agents.setLabels", "x".repeat(LIMIT + 1));
    expect(res.status).toBe(413);
    const body = (await res.json()) as any;
    expect(body.error.data).toMatchObject({ code: "PAYLOAD_TOO_LARGE", httpStatus: 413 });
    expect(body.error.message).toBe(`request body too large: at most ${LIMIT} bytes (PROBEPILOT_MAX_BODY_BYTES), got ${LIMIT + 1}`);
    expect(metricValue(await scrape(h.cp.url), "probepilot_http_refused_total", { reason: "body_too_large" })).toBe(before + 1);
  });

  it("answers a declared length over the limit at once, without waiting for the body", async () => {
    const { hostname, port } = new URL(h.cp.url);
    // 50 MB announced, a few bytes sent: the answer cannot have waited for the rest.
    const head = `POST /trpc/agents.setLabels HTTP/1.1\r\nHost: ${hostname}:${port}\r\nAuthorization: Bearer ${h.adminToken}\r\nContent-Type: application/json\r\nContent-Length: ${50 * 1024 * 1024}\r\n\r\n`;
    const res = await rawRequest(head, '{"id":"');
    expect(res.statusLine).toBe("HTTP/1.1 413 Payload Too Large");
    expect(res.headers.toLowerCase()).toContain("connection: close");
    expect(res.ms).toBeLessThan(2000);
  });

  it("stops reading a body sent without a length as soon as it passes the limit", async () => {
    let sent = 0;
    const chunk = new TextEncoder().encode(`"${"y".repeat(16 * 1024)}",`);
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        // Up to 1 MiB if the server kept reading; it stops after 64 KiB.
        if (sent > 1024 * 1024) return controller.close();
        sent += chunk.length;
        controller.enqueue(chunk);
      },
    });
    const res = await post("agents.setLabels", stream, {}, { duplex: "half" } as RequestInit);
    expect(res.status).toBe(413);
    expect(((await res.json()) as any).error.message).toBe(`request body too large: at most ${LIMIT} bytes (PROBEPILOT_MAX_BODY_BYTES)`);
  });

  it("lets a body under the limit through to validation (a 404 for an unknown agent, not a 413)", async () => {
    const labels = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`k${i}`, "v".repeat(60)]));
    const body = JSON.stringify({ id: newId("agent"), labels });
    expect(body.length).toBeGreaterThan(10_000);
    expect(body.length).toBeLessThan(LIMIT);
    const res = await post("agents.setLabels", body);
    expect(res.status).not.toBe(413);
    expect(res.status).toBeLessThan(500);
  });

  it("a tRPC client sees the 413 as an error saying what the limit is", async () => {
    const err = await trpcError(h.client().probes.createVersion.mutate({ probe: "host", params: { comm: "z".repeat(LIMIT) } }));
    expect(err.data).toMatchObject({ code: "PAYLOAD_TOO_LARGE", httpStatus: 413 });
    expect(err.message).toMatch(/^request body too large: at most 65536 bytes/);
  });

  it("stays healthy after all of the above", async () => {
    const health = await fetch(`${h.cp.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await h.client().system.whoami.query()).toMatchObject({ role: "admin" });
    // Many refused bodies in parallel do not wedge it either.
    const statuses = await Promise.all(Array.from({ length: 20 }, () => post("agents.setLabels", "z".repeat(LIMIT * 2)).then((r) => r.status)));
    expect(statuses).toEqual(Array(20).fill(413));
    expect(await h.client().system.whoami.query()).toMatchObject({ role: "admin" });
  });
});
