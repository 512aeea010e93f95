/**
 * Main-thread work per update, from a Chrome trace (categories "toplevel" and
 * "blink.user_timing"): the tasks the renderer's main thread ran after each
 * tick mark, whatever they were (script, microtasks, the canvas flush at the
 * end of a task, style, layout, paint, commit, garbage collection).
 */

/** The fields of a Chrome trace event this analysis reads. */
export type TraceEvent = { name: string; ph: string; ts: number; dur?: number; pid: number; tid: number };

export type UpdateWork = {
  /**
   * The longest stretch the main thread was busy without a break (tasks less
   * than {@link MERGE_GAP_US} apart count as one stretch): while it lasts, no
   * frame can be produced and no input handled. The update's "frame time".
   */
  frameMs: number;
  /** All main-thread task time in the update's window (until the next tick). */
  costMs: number;
};

/** Tasks closer than this (µs) are one busy stretch: the scheduler's own gap between back-to-back tasks. */
export const MERGE_GAP_US = 100;
const TASK_NAMES = new Set(["ThreadControllerImpl::RunTask", "RunTask"]);

/**
 * Per tick mark (`mark` events, in order), the work that followed until the
 * next one (or for `windowUs` after the last). The main thread is the one the
 * marks were made on.
 */
export function workPerTick(events: readonly TraceEvent[], mark: string, windowUs = 1_000_000): UpdateWork[] {
  const marks = events.filter((e) => e.name === mark).sort((a, b) => a.ts - b.ts);
  if (marks.length === 0) return [];
  const { pid, tid } = marks[0]!;
  // Top-level tasks of that thread (a nested run loop's tasks lie inside another task: skip them).
  const tasks: { start: number; end: number }[] = [];
  for (const e of events.filter((x) => x.pid === pid && x.tid === tid && x.ph === "X" && x.dur !== undefined && TASK_NAMES.has(x.name)).sort((a, b) => a.ts - b.ts)) {
    const last = tasks[tasks.length - 1];
    if (last && e.ts + e.dur! <= last.end) continue;
    tasks.push({ start: e.ts, end: e.ts + e.dur! });
  }
  return marks.map((m, i) => {
    const from = m.ts;
    const to = marks[i + 1]?.ts ?? m.ts + windowUs;
    let cost = 0;
    let longest = 0;
    let stretchStart = -1;
    let stretchEnd = -1;
    for (const t of tasks) {
      // The task that made the mark started just before it: tasks overlapping the window count.
      if (t.end <= from || t.start >= to) continue;
      cost += t.end - t.start;
      if (stretchStart >= 0 && t.start - stretchEnd < MERGE_GAP_US) stretchEnd = Math.max(stretchEnd, t.end);
      else {
        stretchStart = t.start;
        stretchEnd = t.end;
      }
      longest = Math.max(longest, stretchEnd - stretchStart);
    }
    return { frameMs: longest / 1000, costMs: cost / 1000 };
  });
}
