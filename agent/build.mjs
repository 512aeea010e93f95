// `pnpm --filter @probepilot/agent build`: bundle the agent into one ES module,
// dist/probepilot-agent.mjs. Run from TypeScript through tsx, the agent costs
// ~40 MB more resident memory (the esbuild service child and tsx's loader) than
// bundled, and the brief gives agent plus loaders 100 MB. bin/probepilot-agent.mjs
// runs the bundle when it is newer than every source file, else the sources.
import { build } from "esbuild";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const started = Date.now();
await build({
  entryPoints: [path.join(here, "src/main.ts")],
  outfile: path.join(here, "dist/probepilot-agent.mjs"),
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  sourcemap: "linked",
  // Bundled CommonJS dependencies (pino, prom-client) call require(): give the ES module one.
  banner: { js: "import { createRequire as __ppCreateRequire } from 'node:module'; const require = __ppCreateRequire(import.meta.url);" },
  logLevel: "warning",
});
process.stdout.write(`[probepilot] agent bundled into agent/dist/probepilot-agent.mjs (${Date.now() - started} ms)\n`);
