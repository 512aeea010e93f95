import { Hono, type MiddlewareHandler } from "hono";
import { serveStatic } from "@hono/node-server/serve-static";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { createHash } from "node:crypto";
import type { Logger } from "../logger.ts";
import { WEB_APP_CSP } from "./security-headers.ts";

/**
 * The built web app (`vite build` → web/dist): hashed assets cached for a year,
 * everything else is the single page's index.html (so that deep links such as
 * /rollouts/rol_… load the app, whose router takes it from there), never cached
 * (a new build must reach the next reload). Without a build, `/` says how to make one.
 */
export function webAppRoutes(webDir: string, log: Logger): Hono {
  const app = new Hono();
  const indexFile = path.join(webDir, "index.html");
  if (!existsSync(indexFile)) log.warn({ webDir }, "the web app is not built: `/` explains how to build it (pnpm --filter @probepilot/web build)");

  // Made once the build exists (serveStatic complains on every request about a missing
  // root), so that building while the control plane runs needs no restart.
  let statics: { assets: MiddlewareHandler; files: MiddlewareHandler } | null = null;
  const staticsIfBuilt = () =>
    (statics ??= existsSync(webDir)
      ? {
          assets: serveStatic({ root: webDir, onFound: (_path, c) => c.header("cache-control", "public, max-age=31536000, immutable") }),
          files: serveStatic({ root: webDir, index: "__no_index__" }),
        }
      : null);
  app.use("/assets/*", async (c, next) => {
    const s = staticsIfBuilt();
    return s ? s.assets(c, next) : next();
  });
  app.use("*", async (c, next) => {
    const s = staticsIfBuilt();
    return s ? s.files(c, next) : next();
  });

  app.get("*", async (c) => {
    // A missing asset is a 404, not the page: a browser asking for /assets/x.js must not get HTML.
    if (path.extname(c.req.path) !== "") return c.text(`not found: ${c.req.path}`, 404);
    const html = await readFile(indexFile, "utf8").catch(() => null);
    c.header("cache-control", "no-cache");
    if (html !== null) return c.html(html);
    // Its one inline <style> is allowed by its hash; the rest of the policy is the app's.
    c.header("content-security-policy", WEB_APP_CSP.replace("style-src 'self'", `style-src 'self' '${NOT_BUILT_STYLE_HASH}'`));
    return c.html(NOT_BUILT_PAGE, 503);
  });
  return app;
}

const NOT_BUILT_STYLE = `body{font:15px system-ui,sans-serif;background:#0b1016;color:#d7e0ea;max-width:42rem;margin:4rem auto;padding:0 1rem}code{background:#111821;padding:2px 5px;border-radius:3px}a{color:#4fd1c5}`;
const NOT_BUILT_STYLE_HASH = `sha256-${createHash("sha256").update(NOT_BUILT_STYLE).digest("base64")}`;
const NOT_BUILT_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>ProbePilot</title>
<style>${NOT_BUILT_STYLE}</style></head>
<body><h1>ProbePilot</h1><p>The control plane is running, but the web app has not been built.</p>
<p><code>npm start</code> builds it; by hand: <code>pnpm --filter @probepilot/web build</code>, then reload. For development with hot reload: <code>pnpm --filter @probepilot/web dev</code>.</p>
<p>The API is at <code>/trpc</code>; health at <a href="/healthz">/healthz</a>.</p></body></html>`;
