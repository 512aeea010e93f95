import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ensureTracefs } from "@probepilot/agent/host/tracefs";

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

/**
 * The kernel tests load eBPF programs into the running kernel: they need root,
 * tracefs and a current `make -C bpf` build. Without root they fail (CI runs as
 * root and must not skip them) unless PROBEPILOT_SKIP_KERNEL_TESTS=1 says to
 * skip them, which each suite then reports loudly.
 */
export default async function setup(): Promise<void> {
  if (process.env.PROBEPILOT_SKIP_KERNEL_TESTS === "1") {
    process.stdout.write("[tests] PROBEPILOT_SKIP_KERNEL_TESTS=1: the kernel (eBPF) tests will be SKIPPED\n");
    return;
  }
  if (process.getuid?.() !== 0) {
    throw new Error("the kernel tests load eBPF programs and need root (run as root, or set PROBEPILOT_SKIP_KERNEL_TESTS=1 to skip them, loudly)");
  }
  const tracefs = await ensureTracefs();
  if (tracefs.error) throw new Error(`kernel tests need tracefs: ${tracefs.error}`);
  const make = spawnSync("make", ["-C", path.join(root, "bpf"), "--no-print-directory"], { encoding: "utf8" });
  if (make.status !== 0) throw new Error(`make -C bpf failed (exit ${make.status ?? make.signal}):\n${make.stdout}\n${make.stderr}`);
}
