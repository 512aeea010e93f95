#!/usr/bin/env node
// `npm start` / `npm test` entry point. Works where only Node.js and npm exist:
// brings the pinned pnpm, installs the system packages the command needs (as root,
// with apt-get; Chromium for the browser tests), builds the eBPF probes (make -C bpf),
// installs the workspace, builds the agent bundle and (for start) the web app, then
// hands over to pnpm.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync, utimesSync } from "node:fs";
import { availableParallelism } from "node:os";
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

/** The newest modification time of a file, or of anything under a directory (0 when it does not exist). */
function newestMtime(file) {
  let st;
  try {
    st = statSync(file);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs; // a deleted file shows only as its directory's change
  for (const entry of readdirSync(file)) newest = Math.max(newest, newestMtime(path.join(file, entry)));
  return newest;
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

// 2. System packages: nats-server (for the local stack and the tests' own servers), and
// what the eBPF probes need: the toolchain that builds them (clang, llvm-strip, bpftool,
// libbpf/libelf/zlib headers, make, gcc) and the tools the network probes and their tests
// run (nft, ip, nstat). Checked by binary or header, installed with one apt-get run.
// bpftool, nft, ip and nstat live in /usr/sbin, which a non-root PATH may lack.
const sbinDirs = ["/usr/local/sbin", "/usr/sbin", "/sbin"];
const hasBin = (bin, args) => has(bin, args) !== null || sbinDirs.some((dir) => has(path.join(dir, bin), args) !== null);
const systemNeeds = [
  { bin: "nats-server", pkg: "nats-server", args: ["--version"], when: ["start", "test"] },
  { bin: "clang", pkg: "clang", args: ["--version"], when: ["start", "test"] },
  { bin: "llvm-strip", pkg: "llvm", args: ["--version"], when: ["start", "test"] },
  { bin: "bpftool", pkg: "bpftool", args: ["version"], when: ["start", "test"] },
  { file: "/usr/include/bpf/libbpf.h", pkg: "libbpf-dev", when: ["start", "test"] },
  { file: "/usr/include/libelf.h", pkg: "libelf-dev", when: ["start", "test"] },
  { file: "/usr/include/zlib.h", pkg: "zlib1g-dev", when: ["start", "test"] },
  { bin: "make", pkg: "make", args: ["--version"], when: ["start", "test"] },
  { bin: "gcc", pkg: "gcc", args: ["--version"], when: ["start", "test"] },
  { bin: "nft", pkg: "nftables", args: ["--version"], when: ["start", "test"] },
  { bin: "ip", pkg: "iproute2", args: ["-V"], when: ["start", "test"] },
  { bin: "nstat", pkg: "iproute2", args: ["-V"], when: ["start", "test"] },
  // The browser tests drive Debian's Chromium (playwright-core, no downloaded browser).
  { file: "/usr/bin/chromium", pkg: "chromium", when: ["test"] },
];
const present = (n) => (n.file ? existsSync(n.file) : hasBin(n.bin, n.args));
const missing = systemNeeds.filter((n) => n.when.includes(command) && !present(n));
const natsNeeded = command === "test" || !process.env.NATS_URL;
const toInstall = [...new Set(missing.filter((n) => n.bin !== "nats-server" || natsNeeded).map((n) => n.pkg))];
if (toInstall.length > 0) {
  if (process.getuid?.() !== 0 || !has("apt-get", ["--version"])) fail(`missing system packages: ${toInstall.join(", ")}; install them (e.g. sudo apt-get install ${toInstall.join(" ")})`);
  say(`installing system packages: ${toInstall.join(", ")} (apt-get)…`);
  run("apt-get", ["update", "-qq"]);
  run("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...toInstall], { env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
}

// 3. The eBPF probes, their loader and test programs (bpf/build/; incremental, so
// quick when nothing changed). Needs a kernel with BTF: build/vmlinux.h comes from it.
if (command === "start" || command === "test") {
  say("building eBPF probes (make -C bpf)…");
  const jobs = String(Math.max(1, Math.min(availableParallelism(), 8)));
  const r = spawnSync("make", ["-C", "bpf", "--no-print-directory", "-j", jobs], { stdio: "inherit", cwd: root });
  if (r.status !== 0) fail(`building the eBPF probes failed (\`make -C bpf\` exit ${r.status ?? r.signal}); the compiler's output is above. Rebuild by hand with \`make -C bpf V=1\``);
}

// 4. Workspace dependencies, exactly as locked.
say("installing dependencies (pnpm install --frozen-lockfile)…");
run("pnpm", ["install", "--frozen-lockfile", "--prefer-offline", "--reporter=append-only"]);

// 4b. The agent as one bundled module (agent/dist): ~40 MB less memory per agent than
// running its TypeScript through tsx. The agent's bin falls back to the sources when
// they are newer than the bundle.
run("pnpm", ["--filter", "@probepilot/agent", "--silent", "build"]);

// 4c. The web app (web/dist), which the control plane serves at `/`. Only for start: the
// browser tests build their own copy into a temp dir (scripts/browser-test-setup.ts), so
// `npm test` never depends on web/dist being current and does not pay for a second build.
// Skipped when web/dist is newer than everything it is built from (a few seconds saved on
// every start); the build's index.html is stamped with the time the build began, so a file
// edited while it ran is still seen as newer next time.
if (command === "start") {
  const webDir = path.join(root, "web");
  const builtIndex = path.join(webDir, "dist", "index.html");
  const inputs = [path.join(webDir, "src"), path.join(webDir, "public"), path.join(webDir, "index.html"), path.join(webDir, "vite.config.ts"), path.join(webDir, "package.json"), path.join(root, "shared", "src"), path.join(root, "pnpm-lock.yaml")];
  const builtAt = existsSync(builtIndex) ? statSync(builtIndex).mtimeMs : 0;
  if (builtAt > 0 && inputs.every((input) => newestMtime(input) <= builtAt)) say("web app is up to date (web/dist)");
  else {
    say("building the web app (pnpm --filter @probepilot/web build)…");
    const startedAt = new Date();
    const r = spawnSync("pnpm", ["--filter", "@probepilot/web", "--silent", "build", "--logLevel", "warn"], { stdio: "inherit", cwd: root });
    if (r.status !== 0) fail(`building the web app failed (exit ${r.status ?? r.signal}); vite's output is above. Rebuild by hand with \`pnpm --filter @probepilot/web build\``);
    utimesSync(builtIndex, startedAt, startedAt);
  }
}

// 5. Hand over. The stack is one Node process with tsx's loader (no pnpm or tsx CLI
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
