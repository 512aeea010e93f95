#!/usr/bin/env node
// `probepilot` CLI: runs the TypeScript entry through tsx's loader (no build step in this workspace).
import { register } from "tsx/esm/api";
register();
const { runCli } = await import("../src/cli/main.ts");
process.exitCode = await runCli(process.argv.slice(2), {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  env: process.env,
});
