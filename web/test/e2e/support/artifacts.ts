import path from "node:path";
import { fileURLToPath } from "node:url";

/** test-artifacts/ at the repo root (gitignored): what a browser test run leaves to look at. */
export const ARTIFACTS_DIR = fileURLToPath(new URL("../../../../test-artifacts/", import.meta.url));
/** One PNG per page visited (`<name>.png`), and for a failed test `<test>.failed.png` with `<test>.console.log`. */
export const SCREENSHOTS_DIR = path.join(ARTIFACTS_DIR, "screenshots");
/** Logs of the processes the browser tests start (the local agent). */
export const LOGS_DIR = path.join(ARTIFACTS_DIR, "logs");

/** A file-name-safe slug of a test or page name: "Agent detail (CPU)" → "agent-detail-cpu". */
export function slug(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 80);
}
