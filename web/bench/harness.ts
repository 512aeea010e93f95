/**
 * In-page part of `pnpm bench:ui`, the same code on both pages. Once a second
 * it marks the tick (`performance.mark("ui-bench:tick")`, which lands in the
 * Chrome trace the driver records) and delivers one update (`deliver`: the
 * page's own reaction to new data). The driver measures the main-thread work
 * from the trace (see trace-analysis.ts): everything the renderer's main thread
 * runs counts, including what no in-page timer sees (a canvas is rasterized at
 * the end of the task that drew it, after its microtasks).
 *
 * In the page itself it records the frame intervals (rAF to rAF) in the half
 * second after each tick: 16.7 ms when no frame was missed. Its frame loop runs
 * only then, so that an idle page renders nothing.
 */
export type RunResult = {
  /** Per update: the longest rAF-to-rAF interval in the 500 ms after the tick. */
  intervals: number[];
  /** What the page says about itself at the end (charts, points per chart). */
  info: Record<string, unknown>;
};

/** What the Node driver calls (through `page.evaluate`). */
export type BenchApi = {
  ready(): boolean;
  run(seconds: number, warmupSeconds: number): Promise<RunResult>;
};

/** The mark name the trace analysis looks for; recorded (not warm-up) ticks only. */
export const TICK_MARK = "ui-bench:tick";
const INTERVAL_WINDOW_MS = 500;

declare global {
  interface Window {
    __bench?: BenchApi;
  }
}

export function installHarness(page: { deliver(): void; ready(): boolean; info(): Record<string, unknown> }): void {
  // The frame loop runs only in the window after each tick: an idle page then
  // renders no frames at all, so the trace's main-thread time is the update's.
  let looping = false;
  let lastFrame = 0;
  let windowEnd = 0;
  let worst = 0;
  const loop = (ts: number) => {
    if (ts > windowEnd) {
      looping = false;
      return;
    }
    requestAnimationFrame(loop);
    if (lastFrame) worst = Math.max(worst, ts - lastFrame);
    lastFrame = ts;
  };

  window.__bench = {
    ready: () => page.ready(),
    async run(seconds, warmupSeconds) {
      const intervals: number[] = [];
      const start = performance.now() + 1000;
      for (let i = 0; i < seconds + warmupSeconds; i++) {
        // A fixed 1 Hz schedule, whatever each update took.
        const wait = start + i * 1000 - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        if (i > warmupSeconds) intervals.push(worst); // the previous tick's frames
        if (i >= warmupSeconds) performance.mark(TICK_MARK);
        worst = 0;
        lastFrame = 0;
        windowEnd = performance.now() + INTERVAL_WINDOW_MS;
        if (!looping) {
          looping = true;
          requestAnimationFrame(loop);
        }
        page.deliver();
      }
      await new Promise((r) => setTimeout(r, 1000));
      intervals.push(worst);
      performance.clearMarks(TICK_MARK);
      return { intervals, info: page.info() };
    },
  };
}
