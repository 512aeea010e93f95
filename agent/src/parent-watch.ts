/**
 * Calls `onGone` once when `parent` is no longer this process's parent: the
 * kernel re-parents an orphan (to init or a subreaper), so `process.ppid`
 * changes. Node has no `PR_SET_PDEATHSIG`; a check every `intervalMs` is cheap
 * (one getppid). The first check is at once: a parent given by pid that died
 * while this process was still loading is caught too. Used with
 * `PROBEPILOT_EXIT_WITH_PARENT`: the local stack's agent must not outlive a stack
 * killed with SIGKILL. Returns a function that stops watching.
 */
export function watchParent(parent: number, onGone: (parentPid: number) => void, intervalMs = 1000): () => void {
  let timer: NodeJS.Timeout | null = null;
  const check = () => {
    if (process.ppid === parent) return;
    if (timer) clearInterval(timer);
    timer = null;
    onGone(parent);
  };
  timer = setInterval(check, intervalMs);
  timer.unref();
  setImmediate(check);
  return () => {
    if (timer) clearInterval(timer);
    timer = null;
  };
}
