#!/usr/bin/env node
// `npm start` / `npm test` entry point. Works where only Node.js and npm exist:
// brings the pinned pnpm, installs the workspace, installs the system packages
// the command needs (as root, with apt-get), then hands over to pnpm.
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const command = process.argv[2];
const say = (line) => process.stdout.write(`[probepilot] ${line}\n`);
const fail = (line) => {
  process.stderr.write(`[probepilot] ${line}\n`);
  process.exit(1);
};

const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 20 || (major === 20 && minor < 19)) fail(`Node.js >= 20.19 is required (this is ${process.version})`);

const pinned = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")).packageManager.replace(/^pnpm@/, "");

function has(bin, args = ["--version"]) {
  const r = spawnSync(bin, args, { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : null;
}

function run(bin, args, opts = {}) {
  const r = spawnSync(bin, args, { stdio: "inherit", cwd: root, ...opts });
  if (r.status !== 0) fail(`\`${bin} ${args.join(" ")}\` failed (exit ${r.status ?? r.signal})`);
}

// 1. pnpm, at the version package.json pins.
if (has("pnpm") !== pinned) {
  say(`installing pnpm ${pinned} (npm install -g pnpm@${pinned})…`);
  run("npm", ["install", "-g", `pnpm@${pinned}`, "--no-fund", "--no-audit"]);
  if (has("pnpm") !== pinned) fail(`pnpm ${pinned} is still not on PATH after installing it; check npm's global bin directory (npm prefix -g)`);
}

// 2. System packages: nats-server (for the local stack and the tests' own servers).
const systemNeeds = [{ bin: "nats-server", pkg: "nats-server", args: ["--version"], when: ["start", "test"] }];
const missing = systemNeeds.filter((n) => n.when.includes(command) && !has(n.bin, n.args));
const natsNeeded = command === "test" || !process.env.NATS_URL;
const toInstall = missing.filter((n) => n.bin !== "nats-server" || natsNeeded).map((n) => n.pkg);
if (toInstall.length > 0) {
  if (process.getuid?.() !== 0 || !has("apt-get", ["--version"])) fail(`missing system packages: ${toInstall.join(", ")}; install them (e.g. sudo apt-get install ${toInstall.join(" ")})`);
  say(`installing system packages: ${toInstall.join(", ")} (apt-get)…`);
  run("apt-get", ["update", "-qq"]);
  run("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...toInstall], { env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
}

// 3. Workspace dependencies, exactly as locked.
say("installing dependencies (pnpm install --frozen-lockfile)…");
run("pnpm", ["install", "--frozen-lockfile", "--prefer-offline", "--reporter=append-only"]);

// 4. Hand over. The stack is one Node process with tsx's loader (no pnpm or tsx CLI
// in between to relay or swallow signals).
const [bin, args] =
  command === "start" ? [process.execPath, ["--import", "tsx", "control-plane/src/stack/main.ts"]]
  : command === "test" ? ["pnpm", ["run", "test:ci"]]
  : fail(`unknown command "${command}" (expected start or test)`);
// The stack gets its own process group (detached), so Ctrl-C in the terminal does not
// reach Postgres, NATS and the agent directly: it is forwarded once, to the stack, which
// stops them in order (agent, control plane, NATS, Postgres).
const detached = command === "start";
const child = spawn(bin, args, { stdio: "inherit", cwd: root, detached });
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => (detached ? child.kill(signal) : undefined));
child.on("exit", (code, signal) => process.exit(code ?? (signal === "SIGINT" ? 130 : 1)));
