import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The executables tests spawn, found through the packages that ship them (each
 * package exports its package.json), so a test's own folder depth never matters.
 */
const require = createRequire(import.meta.url);
const packageDir = (name: string) => path.dirname(require.resolve(`${name}/package.json`));

/** The checkout's root: where `npm start` (scripts/bootstrap.mjs) and the stack's entry run. */
export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

export const AGENT_BIN = path.join(packageDir("@probepilot/agent"), "bin/probepilot-agent.mjs");
/** The `probepilot` CLI. */
export const CLI_BIN = path.join(packageDir("@probepilot/control-plane"), "bin/probepilot.mjs");
export const CONTROL_PLANE_BIN = path.join(packageDir("@probepilot/control-plane"), "bin/probepilot-control-plane.mjs");
export const INGESTER_BIN = path.join(packageDir("@probepilot/control-plane"), "bin/probepilot-ingester.mjs");
