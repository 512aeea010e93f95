#!/usr/bin/env node
// Runs the bundled agent (agent/dist, built by `pnpm --filter @probepilot/agent build`,
// which npm start / npm test run) when it is newer than every source file it was
// built from; otherwise the TypeScript sources through tsx's loader, so an edit is
// never shadowed by a stale bundle.
import { readdirSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const agentDir = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const bundle = path.join(agentDir, "dist/probepilot-agent.mjs");
const sourceDirs = [path.join(agentDir, "src"), path.join(agentDir, "../shared/src")];

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(full) : statSync(full).mtimeMs);
  }
  return newest;
}

function bundleIsCurrent() {
  try {
    const built = statSync(bundle).mtimeMs;
    return sourceDirs.every((dir) => newestMtime(dir) <= built);
  } catch {
    return false; // no bundle (or no sources to compare with): run the sources
  }
}

if (bundleIsCurrent()) {
  await import(pathToFileURL(bundle).href);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import("../src/main.ts");
}
