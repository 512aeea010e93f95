import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { ProcIdentity } from "./proc-info.ts";

/**
 * A watchdog that stops one child of the stack when the stack dies, even by
 * SIGKILL: a tiny `sh` running child-watchdog.sh (no polling) blocked reading a pipe
 * whose write end only the stack holds (libuv opens pipes close-on-exec, so no
 * other child inherits it). When the stack exits, however it exits, the kernel
 * closes that end: `read` returns at end of file and the watchdog sends
 * `signal` to the child — only if the child is still the very process it was
 * given (pid and start time) — waits up to `graceMs`, then SIGKILLs it. A stack
 * that stops its children itself disarms the watchdog first.
 */
const SCRIPT = fileURLToPath(new URL("./child-watchdog.sh", import.meta.url));

export type ChildWatchdog = { pid: number | undefined; disarm: () => void };

export function watchOverChild(child: ProcIdentity, signal: "TERM" | "INT", graceMs: number): ChildWatchdog {
  const sh = spawn("/bin/sh", [SCRIPT, String(child.pid), String(child.startTime), signal, String(Math.ceil(graceMs / 200))], {
    stdio: ["pipe", "ignore", "ignore"],
    // Own process group: a Ctrl-C meant for the stack must not fire it.
    detached: true,
  });
  sh.on("error", () => {}); // no /bin/sh: no watchdog; the next start still cleans up
  sh.stdin!.on("error", () => {}); // EPIPE if it is gone already
  sh.unref();
  (sh.stdin as unknown as { unref?: () => void }).unref?.();
  return {
    pid: sh.pid,
    disarm: () => {
      if (!sh.stdin!.destroyed) sh.stdin!.end("disarm\n");
    },
  };
}
