import { spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { TestProject } from "vitest/node";
import type {} from "vitest"; // the module the ProvidedContext augmentation below extends

declare module "vitest" {
  export interface ProvidedContext {
    /** The web app built for this run (`vite build --outDir`), served by the tests' control planes; null when skipped. */
    e2eWebDir: string | null;
    /** The Chromium binary the tests launch. */
    e2eChromium: string;
    /** Why the browser tests are skipped (PROBEPILOT_SKIP_BROWSER_TESTS=1), or null when they run. */
    e2eSkipReason: string | null;
    /** Why the browser tests cannot run (no Chromium, the build failed): each suite fails with it. */
    e2eSetupError: string | null;
  }
}

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const webRoot = path.join(root, "web");

/** Debian's Chromium, which `npm test` installs when it is missing; PROBEPILOT_CHROMIUM points elsewhere. */
export const DEFAULT_CHROMIUM = "/usr/bin/chromium";

/**
 * The browser tests drive the built web app in Debian's Chromium. This runs once
 * per `vitest run` that includes them: it checks that Chromium is there, then
 * builds the web app into a temp dir that the tests' control planes serve
 * (PROBEPILOT_WEB_DIR), so a test never runs against a stale web/dist.
 * When Chromium is missing or the build fails, the browser suites FAIL with the
 * reason and what to do (CI must not skip them silently), while the other
 * projects of the run go on. PROBEPILOT_SKIP_BROWSER_TESTS=1 skips them, which
 * the suites then report loudly.
 */
export default async function setup(project: TestProject): Promise<(() => Promise<void>) | void> {
  const chromium = process.env.PROBEPILOT_CHROMIUM || DEFAULT_CHROMIUM;
  project.provide("e2eChromium", chromium);
  project.provide("e2eWebDir", null);
  project.provide("e2eSkipReason", null);
  project.provide("e2eSetupError", null);
  const cannotRun = (why: string) => {
    process.stdout.write(`[tests] the browser tests will FAIL: ${why}\n`);
    project.provide("e2eSetupError", why);
  };

  if (process.env.PROBEPILOT_SKIP_BROWSER_TESTS === "1") {
    const reason = "PROBEPILOT_SKIP_BROWSER_TESTS=1";
    process.stdout.write(`[tests] ${reason}: the browser (web UI end-to-end) tests will be SKIPPED\n`);
    project.provide("e2eSkipReason", reason);
    return;
  }
  try {
    accessSync(chromium, constants.X_OK);
  } catch {
    return cannotRun(
      `they drive Chromium at ${chromium}, which is missing or not executable: run \`npm test\` (as root it installs Debian's chromium package with apt-get), ` +
        `or \`apt-get install chromium\`, or point PROBEPILOT_CHROMIUM at a Chromium binary; PROBEPILOT_SKIP_BROWSER_TESTS=1 skips these tests, loudly`,
    );
  }

  const outDir = await mkdtemp(path.join(tmpdir(), "pp-web-e2e-"));
  const teardown = () => rm(outDir, { recursive: true, force: true });
  const started = Date.now();
  try {
    await viteBuild(outDir);
  } catch (error) {
    await teardown();
    return cannotRun((error as Error).message);
  }
  process.stdout.write(`[tests] built the web app for the browser tests into ${outDir} (${((Date.now() - started) / 1000).toFixed(1)}s)\n`);
  project.provide("e2eWebDir", outDir);
  return teardown;
}

/** `vite build --outDir <outDir>` in web/, with web/vite.config.ts (the same build `npm start` serves). */
async function viteBuild(outDir: string): Promise<void> {
  // vite is web/'s dependency, not the root's: resolve its CLI from there.
  const viteCli = path.join(path.dirname(createRequire(path.join(webRoot, "package.json")).resolve("vite/package.json")), "bin", "vite.js");
  const child = spawn(process.execPath, [viteCli, "build", "--outDir", outDir, "--emptyOutDir", "--logLevel", "warn"], { cwd: webRoot, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (c, s) => resolve([c, s]));
  });
  if (code !== 0) {
    throw new Error(`building the web app failed (vite build exit ${code ?? signal}); fix the build (pnpm --filter @probepilot/web build shows the same):\n${output.slice(-6000)}`);
  }
}
