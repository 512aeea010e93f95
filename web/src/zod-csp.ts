import { z } from "zod";

/**
 * zod compiles object parsers with `new Function` when it may, and probes for that
 * by trying it: under the control plane's Content-Security-Policy (no 'unsafe-eval')
 * the probe is refused and reported as a violation on every page load. Parsing
 * without it is the same validation, a little slower. This must run before any
 * schema is built (zod decides per schema), so main.tsx imports it first.
 */
z.config({ jitless: true });
