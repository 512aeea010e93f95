import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { get } from "node:https";
import { tmpdir } from "node:os";
import path from "node:path";
import { NkeyPair } from "@probepilot/shared/nkeys";
import { ensureLocalTls } from "../../src/nats/trust/local-tls.ts";
import { startHarness, type Harness } from "@probepilot/testkit/control-plane-harness";
import { fakeHello } from "@probepilot/testkit/fake-hello";
import { createEnrollmentToken } from "../../src/services/enroll-tokens/create-enrollment-token.ts";
import { postJson } from "@probepilot/agent/identity/control-plane-client";

/**
 * The control plane serves HTTPS when given a certificate and key, and agents
 * enroll over it, verifying it with the CA they are given (`--ca`).
 */
let h: Harness;
let tlsDir: string;
let caFile: string;

beforeAll(async () => {
  tlsDir = await mkdtemp(path.join(tmpdir(), "pp-https-"));
  const tls = await ensureLocalTls(tlsDir);
  caFile = tls.caFile;
  h = await startHarness({ PROBEPILOT_TLS_CERT: tls.certFile, PROBEPILOT_TLS_KEY: tls.keyFile });
});
afterAll(async () => {
  await h?.stop();
  await rm(tlsDir, { recursive: true, force: true });
});

function httpsStatus(url: string, ca?: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    get(url, { ...(ca ? { ca } : {}) }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on("error", reject);
  });
}

describe("the control plane over HTTPS", () => {
  it("listens on https:// and answers /healthz to a client that trusts its CA", async () => {
    expect(h.cp.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(await httpsStatus(`${h.cp.url}/healthz`, await readFile(caFile))).toBe(200);
  });

  it("a client that does not trust the certificate is refused by TLS, and plain HTTP gets no answer", async () => {
    await expect(httpsStatus(`${h.cp.url}/healthz`)).rejects.toThrow(/self[- ]signed|unable to verify|certificate/i);
    await expect(fetch(`${h.cp.url.replace("https://", "http://")}/healthz`)).rejects.toThrow();
  });

  it("an agent enrolls over it with --ca (the agent's own HTTP client), and is refused without the CA", async () => {
    // Made through the service (the test's fetch-based tRPC client does not trust the local CA).
    const [tenant] = await h.cp.db.sql<{ id: string }[]>`select id from tenants limit 1`;
    const { token } = await createEnrollmentToken(h.cp.db.db, { tenantId: tenant!.id, actor: "https-test" }, {});
    const body = { enrollmentToken: token, requestId: randomUUID(), publicKey: NkeyPair.create("user").getPublicKey(), hello: fakeHello({ hostname: "over-https" }) };
    const reply = (await postJson({ url: h.cp.url, caFile }, "v1/agents/enroll", body)) as { agentId: string };
    expect(reply.agentId).toMatch(/^agt_/);
    await expect(postJson({ url: h.cp.url }, "v1/agents/enroll", { ...body, requestId: randomUUID() })).rejects.toThrow(/self[- ]signed|unable to verify|certificate/i);
  });
});
