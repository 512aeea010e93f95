import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import path from "node:path";
import { createTRPCUntypedClient, httpSubscriptionLink } from "@trpc/client";
import { EventSource } from "eventsource";
import type { AppRouter } from "../../src/trpc/app-router.ts";
import { TOKEN_IN_URL_REFUSED } from "../../src/http/app.ts";
import { parseControlPlaneEnv } from "../../src/env.ts";
import { startHarness, type Harness } from "@probepilot/testkit/control-plane-harness";
import { metricValue, scrape } from "@probepilot/testkit/metrics-text";

/**
 * Over real HTTP: cross-origin calls refused unless PROBEPILOT_CORS_ORIGINS names
 * the origin; security headers on the web app and on API answers; API tokens in a
 * URL taken for live streams (SSE) only.
 */
const ALLOWED = "https://dash.example.com";
const FOREIGN = "https://evil.example";
let h: Harness;
let plain: Harness;
let webDir: string;

beforeAll(async () => {
  webDir = await mkdtemp(path.join(tmpdir(), "pp-web-csp-"));
  await mkdir(path.join(webDir, "assets"));
  await writeFile(path.join(webDir, "index.html"), `<!doctype html><html><head><script type="module" src="/assets/app-1.js"></script></head><body></body></html>`);
  await writeFile(path.join(webDir, "assets", "app-1.js"), `console.log(1);\n`);
  [h, plain] = await Promise.all([
    startHarness({ PROBEPILOT_CORS_ORIGINS: `${ALLOWED}, http://127.0.0.1:5173`, PROBEPILOT_WEB_DIR: webDir }),
    startHarness({ PROBEPILOT_WEB_DIR: path.join(webDir, "not-built") }),
  ]);
});
afterAll(async () => {
  await Promise.all([h?.stop(), plain?.stop()]);
  if (webDir) await rm(webDir, { recursive: true, force: true });
});

const preflight = (base: Harness, origin: string) =>
  fetch(`${base.cp.url}/trpc/tokens.create`, { method: "OPTIONS", headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type" } });

describe("CORS", () => {
  it("refuses a preflight from a foreign origin with 403 and no allow headers", async () => {
    for (const base of [h, plain]) {
      const res = await preflight(base, FOREIGN);
      expect(res.status).toBe(403);
      expect(res.headers.get("access-control-allow-origin")).toBeNull();
      expect(res.headers.get("access-control-allow-methods")).toBeNull();
      expect(res.headers.get("access-control-allow-headers")).toBeNull();
    }
  });

  it("refuses the request itself from a foreign origin, before it does anything", async () => {
    const before = metricValue(await scrape(h.cp.url), "probepilot_http_refused_total", { reason: "cross_origin" });
    const tokensBefore = (await h.client().tokens.list.query()).length;
    const res = await fetch(`${h.cp.url}/trpc/tokens.create`, {
      method: "POST",
      headers: { origin: FOREIGN, authorization: `Bearer ${h.adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ role: "admin", name: "from-evil" }),
    });
    expect(res.status).toBe(403);
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
    expect(((await res.json()) as any).error.message).toBe(
      `cross-origin request from ${FOREIGN} refused: only this control plane's own pages and the origins in PROBEPILOT_CORS_ORIGINS may call the API`,
    );
    expect((await h.client().tokens.list.query()).length).toBe(tokensBefore);
    // Also an opaque origin ("null": sandboxed frames, file://) and a GET.
    const opaque = await fetch(`${h.cp.url}/trpc/system.whoami`, { headers: { origin: "null", authorization: `Bearer ${h.adminToken}` } });
    expect(opaque.status).toBe(403);
    expect(metricValue(await scrape(h.cp.url), "probepilot_http_refused_total", { reason: "cross_origin" })).toBe(before + 2);
  });

  it("is refused by default: without PROBEPILOT_CORS_ORIGINS the configured origin of the other server is foreign too", async () => {
    const res = await fetch(`${plain.cp.url}/trpc/system.whoami`, { headers: { origin: ALLOWED, authorization: `Bearer ${plain.adminToken}` } });
    expect(res.status).toBe(403);
    expect((await preflight(plain, ALLOWED)).status).toBe(403);
  });

  it("allows a configured origin: preflight with the methods and headers a tRPC client sends, then the call", async () => {
    const pre = await preflight(h, ALLOWED);
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe(ALLOWED);
    expect(pre.headers.get("access-control-allow-methods")).toBe("GET, POST");
    expect(pre.headers.get("access-control-allow-headers")).toContain("authorization");
    expect(pre.headers.get("access-control-allow-headers")).toContain("content-type");
    expect(pre.headers.get("access-control-allow-credentials")).toBeNull();
    expect(pre.headers.get("vary")).toContain("Origin");

    const res = await fetch(`${h.cp.url}/trpc/system.whoami`, { headers: { origin: ALLOWED, authorization: `Bearer ${h.adminToken}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe(ALLOWED);
    expect(res.headers.get("access-control-expose-headers")).toContain("Retry-After");
    expect(res.headers.get("access-control-expose-headers")).toContain("RateLimit-Remaining");
    // Several origins may be configured.
    expect((await preflight(h, "http://127.0.0.1:5173")).status).toBe(204);
  });

  it("always allows the control plane's own pages (Origin naming the host the request went to)", async () => {
    const own = new URL(plain.cp.url).origin;
    const res = await fetch(`${plain.cp.url}/trpc/system.whoami`, { headers: { origin: own, authorization: `Bearer ${plain.adminToken}` } });
    expect(res.status).toBe(200);
    // Same-origin calls need no CORS headers.
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("takes only origins in PROBEPILOT_CORS_ORIGINS, saying what is wrong with one that is not", () => {
    const base = { DATABASE_URL: "postgres://x@127.0.0.1/x" };
    expect(parseControlPlaneEnv(base).PROBEPILOT_CORS_ORIGINS).toEqual([]);
    expect(parseControlPlaneEnv({ ...base, PROBEPILOT_CORS_ORIGINS: "https://A.example.com, http://b.example:8080/" }).PROBEPILOT_CORS_ORIGINS).toEqual(["https://a.example.com", "http://b.example:8080"]);
    expect(() => parseControlPlaneEnv({ ...base, PROBEPILOT_CORS_ORIGINS: "https://a.example.com/app" })).toThrow(/"https:\/\/a.example.com\/app" is not an origin; expected scheme:\/\/host\[:port\]/);
    expect(() => parseControlPlaneEnv({ ...base, PROBEPILOT_CORS_ORIGINS: "a.example.com" })).toThrow(/is not an origin/);
  });
});

const CSP_OF = (res: Response) => res.headers.get("content-security-policy") ?? "";

function expectCommonHeaders(res: Response, what: string) {
  expect(res.headers.get("x-content-type-options"), what).toBe("nosniff");
  expect(res.headers.get("x-frame-options"), what).toBe("DENY");
  expect(res.headers.get("referrer-policy"), what).toBe("no-referrer");
  expect(CSP_OF(res), what).toContain("frame-ancestors 'none'");
  expect(CSP_OF(res), what).not.toContain("unsafe-eval");
  expect(CSP_OF(res), what).not.toContain("unsafe-inline");
}

describe("security headers", () => {
  it("serves the web app (page, deep link, assets, a missing asset) with a strict Content-Security-Policy", async () => {
    for (const pathname of ["/", "/rollouts/rol_x", "/assets/app-1.js", "/assets/missing.js"]) {
      const res = await fetch(`${h.cp.url}${pathname}`);
      expectCommonHeaders(res, pathname);
      const csp = CSP_OF(res);
      expect(csp, pathname).toMatch(/(^|; )default-src 'self'(;|$)/);
      expect(csp, pathname).toMatch(/(^|; )script-src 'self'(;|$)/);
      expect(csp, pathname).toMatch(/(^|; )style-src 'self'(;|$)/);
      expect(csp, pathname).toContain("object-src 'none'");
      expect(csp, pathname).toContain("base-uri 'none'");
      expect(res.headers.get("cross-origin-opener-policy"), pathname).toBe("same-origin");
    }
  });

  it("allows the not-built page's one inline style by its hash, nothing else inline", async () => {
    const res = await fetch(`${plain.cp.url}/`);
    expect(res.status).toBe(503);
    expectCommonHeaders(res, "not built");
    const html = await res.text();
    const style = html.match(/<style>([\s\S]*?)<\/style>/)![1]!;
    const hash = createHash("sha256").update(style).digest("base64");
    expect(CSP_OF(res)).toContain(`style-src 'self' 'sha256-${hash}'`);
    expect(html).not.toMatch(/ style="/);
  });

  it("sends API answers (JSON, errors, SSE, health, metrics) with nosniff, no framing and default-src 'none'", async () => {
    const answers: [string, Response][] = [
      ["whoami", await fetch(`${h.cp.url}/trpc/system.whoami`, { headers: { authorization: `Bearer ${h.adminToken}` } })],
      ["401", await fetch(`${h.cp.url}/trpc/system.whoami`)],
      ["unknown procedure", await fetch(`${h.cp.url}/trpc/nope.nothing`, { headers: { authorization: `Bearer ${h.adminToken}` } })],
      ["healthz", await fetch(`${h.cp.url}/healthz`)],
      ["metrics", await fetch(`${h.cp.url}/metrics`)],
    ];
    const ac = new AbortController();
    const input = encodeURIComponent(JSON.stringify({ metric: "m", stepMs: 1000, agg: "avg", windowMs: 10_000 }));
    const sse = await fetch(`${h.cp.url}/trpc/telemetry.live?input=${input}`, { headers: { authorization: `Bearer ${h.adminToken}`, accept: "text/event-stream" }, signal: ac.signal });
    expect(sse.headers.get("content-type")).toMatch(/text\/event-stream/);
    answers.push(["sse", sse]);
    for (const [what, res] of answers) {
      expectCommonHeaders(res, what);
      expect(CSP_OF(res), what).toBe("default-src 'none'; frame-ancestors 'none'");
    }
    ac.abort();
  });
});

describe("API tokens in URLs", () => {
  const inUrl = (token: string) => `connectionParams=${encodeURIComponent(JSON.stringify({ token }))}`;

  it("are refused for queries, saying to send the Authorization header", async () => {
    const res = await fetch(`${h.cp.url}/trpc/system.whoami?${inUrl(h.adminToken)}`);
    expect(res.status).toBe(401);
    expect(((await res.json()) as any).error.message).toBe(TOKEN_IN_URL_REFUSED);
    // `?connectionParams=` is what httpSubscriptionLink sends; a batch of queries is refused the same way.
    const batch = await fetch(`${h.cp.url}/trpc/system.whoami,tokens.list?batch=1&input=%7B%7D&${inUrl(h.adminToken)}`);
    expect(batch.status).toBe(401);
  });

  it("are refused for mutations, which then change nothing", async () => {
    const before = (await h.client().tokens.list.query()).length;
    const res = await fetch(`${h.cp.url}/trpc/tokens.create?${inUrl(h.adminToken)}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ role: "admin", name: "token-in-url" }),
    });
    expect(res.status).toBe(401);
    expect(((await res.json()) as any).error.message).toBe(TOKEN_IN_URL_REFUSED);
    expect((await h.client().tokens.list.query()).length).toBe(before);
  });

  it("are accepted for live streams (SSE subscriptions), as the web app sends them", async () => {
    const client = createTRPCUntypedClient<AppRouter>({
      links: [httpSubscriptionLink({ url: `${h.cp.url}/trpc`, EventSource, connectionParams: () => ({ token: h.adminToken }) })],
    });
    const first = await new Promise<unknown>((resolve, reject) => {
      const sub = client.subscription("telemetry.live", { metric: "m", stepMs: 1000, agg: "avg", windowMs: 10_000 }, {
        onData: (d) => (sub.unsubscribe(), resolve(d)),
        onError: (e) => (sub.unsubscribe(), reject(e)),
      });
    });
    expect(first).toMatchObject({ data: { kind: "backfill" } });
  });
});
