import { execFile } from "node:child_process";
import { access, readFile } from "node:fs/promises";
import { promisify } from "node:util";

const TRACEFS = "/sys/kernel/tracing";

/**
 * Make sure tracefs is mounted where libbpf looks: classic tracepoint programs
 * are attached through the event ids under `events/`. Many hosts mount it at
 * boot; minimal VMs and containers often do not. Mounting needs root and a
 * kernel with tracefs; failing that, the capability check reports why.
 */
export async function ensureTracefs(): Promise<{ mounted: boolean; path?: string; error?: string }> {
  const present = async (dir: string) => access(`${dir}/events/sched/sched_switch`).then(() => true, () => false);
  if ((await present(TRACEFS)) || (await present("/sys/kernel/debug/tracing"))) return { mounted: false };
  const filesystems = await readFile("/proc/filesystems", "utf8").catch(() => "");
  if (!/\btracefs\b/.test(filesystems)) return { mounted: false, error: "the kernel has no tracefs" };
  if (process.getuid?.() !== 0) return { mounted: false, error: `not root: cannot mount tracefs at ${TRACEFS}` };
  try {
    await promisify(execFile)("mount", ["-t", "tracefs", "nodev", TRACEFS]);
    return (await present(TRACEFS)) ? { mounted: true, path: TRACEFS } : { mounted: false, error: `mounted tracefs at ${TRACEFS} but it has no events/sched/sched_switch` };
  } catch (err) {
    return { mounted: false, error: `mount -t tracefs nodev ${TRACEFS} failed: ${(err as Error).message}` };
  }
}
