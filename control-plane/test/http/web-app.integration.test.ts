import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { startHarness, type Harness } from "@probepilot/testkit/control-plane-harness";

/**
 * The control plane serves the built web app (what `vite build` writes: index.html
 * and content-hashed assets) at `/`, over real HTTP next to /trpc and /healthz:
 * deep links get the page (the app's router takes them), hashed assets are cached
 * for good, a missing asset is a plain 404, and without a build `/` says how to make one.
 */
let built: Harness;
let unbuilt: Harness;
let webDir: string;

const INDEX_HTML = `<!doctype html><html><head><script type="module" src="/assets/index-B4x9Qz1a.js"></script></head><body><div id="app"></div></body></html>`;
const ASSET_JS = `console.log("probepilot web app");\n`;

beforeAll(async () => {
  // A build as vite lays it out; the server does not care what the files say.
  webDir = await mkdtemp(path.join(tmpdir(), "pp-web-dist-"));
  await mkdir(path.join(webDir, "assets"));
  await writeFile(path.join(webDir, "index.html"), INDEX_HTML);
  await writeFile(path.join(webDir, "assets", "index-B4x9Qz1a.js"), ASSET_JS);
  await writeFile(path.join(webDir, "favicon.svg"), `<svg xmlns="http://www.w3.org/2000/svg"/>`);
  [built, unbuilt] = await Promise.all([startHarness({ PROBEPILOT_WEB_DIR: webDir }), startHarness({ PROBEPILOT_WEB_DIR: path.join(webDir, "does-not-exist") })]);
});

afterAll(async () => {
  await Promise.all([built?.stop(), unbuilt?.stop()]);
  if (webDir) await rm(webDir, { recursive: true, force: true });
});

const get = (h: Harness, pathname: string, init?: RequestInit) => fetch(`${h.cp.url}${pathname}`, init);

describe("the built web app", () => {
  it("serves index.html at / and at deep links, never cached (a new build reaches the next reload)", async () => {
    for (const pathname of ["/", "/rollouts/rol_x", "/agents/agt_01abc?range=1h", "/explore"]) {
      const res = await get(built, pathname);
      expect(res.status, pathname).toBe(200);
      expect(res.headers.get("content-type"), pathname).toMatch(/^text\/html/);
      expect(res.headers.get("cache-control"), pathname).toBe("no-cache");
      expect(await res.text(), pathname).toBe(INDEX_HTML);
    }
  });

  it("serves hashed assets with their type and an immutable year-long cache header", async () => {
    const res = await get(built, "/assets/index-B4x9Qz1a.js");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/javascript/);
    expect(res.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(await res.text()).toBe(ASSET_JS);
    // Other files of the build are served as they are (no year-long cache: their names carry no hash).
    const icon = await get(built, "/favicon.svg");
    expect(icon.status).toBe(200);
    expect(icon.headers.get("content-type")).toMatch(/^image\/svg\+xml/);
    expect(icon.headers.get("cache-control") ?? "").not.toContain("immutable");
  });

  it("answers a missing asset with a plain 404, not the page (a script tag must not get HTML)", async () => {
    for (const pathname of ["/assets/index-OLDHASH.js", "/assets/missing.css", "/nope.png"]) {
      const res = await get(built, pathname);
      expect(res.status, pathname).toBe(404);
      expect(res.headers.get("content-type"), pathname).not.toMatch(/html/);
      expect(await res.text(), pathname).toContain(pathname);
    }
  });

  it("keeps /trpc and /healthz working next to it", async () => {
    const health = await get(built, "/healthz");
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ ok: true });
    expect(await built.client().system.whoami.query()).toMatchObject({ role: "admin" });
    // An unknown procedure is tRPC's 404 in JSON, not the page.
    const unknown = await get(built, "/trpc/nope.nothing", { headers: { authorization: `Bearer ${built.adminToken}` } });
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get("content-type")).toMatch(/json/);
  });
});

describe("without a build", () => {
  it("answers / and deep links with a 503 page that says how to build the app", async () => {
    for (const pathname of ["/", "/rollouts/rol_x"]) {
      const res = await get(unbuilt, pathname);
      expect(res.status, pathname).toBe(503);
      expect(res.headers.get("content-type"), pathname).toMatch(/^text\/html/);
      const html = await res.text();
      expect(html, pathname).toContain("has not been built");
      expect(html, pathname).toContain("pnpm --filter @probepilot/web build");
      expect(html, pathname).toContain("npm start");
    }
    expect((await get(unbuilt, "/assets/index-B4x9Qz1a.js")).status).toBe(404);
  });

  it("still serves /trpc and /healthz", async () => {
    expect((await get(unbuilt, "/healthz")).status).toBe(200);
    expect(await unbuilt.client().system.whoami.query()).toMatchObject({ role: "admin" });
  });
});
