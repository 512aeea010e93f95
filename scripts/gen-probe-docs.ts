// `pnpm docs:probes`: rewrite the generated reference section of docs/probes.md
// (parameters and outputs of every probe kind) from the probe definitions.
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { withFreshReference } from "@probepilot/agent/probes/probe-docs";

const file = path.join(path.dirname(path.dirname(fileURLToPath(import.meta.url))), "docs/probes.md");
writeFileSync(file, withFreshReference(readFileSync(file, "utf8")));
process.stdout.write(`updated ${file}\n`);
