import type { MiddlewareHandler } from "hono";
import { setHeaders } from "./api-guard.ts";

/**
 * The web app's Content-Security-Policy. The Vite build is one module script and
 * stylesheets, all from this origin, with no inline script or style and no eval;
 * Solid and uPlot set styles through the CSSOM (`el.style.x = …`), which
 * `style-src` does not govern; charts draw on canvas; the live view is
 * same-origin SSE. So everything is 'self' and nothing is inline.
 */
export const WEB_APP_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/** API answers (JSON, SSE, metrics) are never documents: nothing may load from them or frame them. */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'";

const isApiPath = (path: string) => path === "/trpc" || path.startsWith("/trpc/") || path === "/healthz" || path === "/metrics";

/**
 * Headers on every response: no MIME sniffing, no framing (CSP `frame-ancestors
 * 'none'` and the older X-Frame-Options), no Referer (an SSE URL may carry a
 * token), and a CSP: the web app's for pages and assets, `default-src 'none'`
 * for the API. A handler that set its own CSP (the "not built" page) keeps it.
 */
export function securityHeaders(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    const api = isApiPath(c.req.path);
    const https = new URL(c.req.url).protocol === "https:";
    setHeaders(c, (h) => {
      h.set("X-Content-Type-Options", "nosniff");
      h.set("X-Frame-Options", "DENY");
      h.set("Referrer-Policy", "no-referrer");
      if (!h.has("Content-Security-Policy")) h.set("Content-Security-Policy", api ? API_CSP : WEB_APP_CSP);
      if (!api) {
        h.set("Cross-Origin-Opener-Policy", "same-origin");
        h.set("Cross-Origin-Resource-Policy", "same-origin");
      }
      if (https) h.set("Strict-Transport-Security", "max-age=31536000");
    });
  };
}
