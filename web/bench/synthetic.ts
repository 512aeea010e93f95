/**
 * The benchmark's data, identical on both pages: 32 charts × 4 series, an hour
 * of history at 1 s steps, then one new point per series per second. Values are
 * seeded random walks (a fixed seed: both pages draw the same lines).
 */
export const CHARTS = 32;
export const SERIES = 4;
export const POINTS = 3600;
export const STEP_MS = 1000;
export const WINDOW_MS = POINTS * STEP_MS;
/** Plot height (canvas with axes) of every chart on both pages. */
export const PLOT_HEIGHT = 110;

/** mulberry32: small, fast, seedable. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class SyntheticData {
  private readonly random = prng(20240611);
  /** Current value per chart and series. */
  private readonly level: Float64Array = new Float64Array(CHARTS * SERIES);
  /** Timestamp of the newest point. */
  lastTs = 0;

  constructor() {
    for (let i = 0; i < this.level.length; i++) this.level[i] = 1e6 * (1 + (i % SERIES)) * (0.5 + this.random());
  }

  /**
   * Advance to the current second: usually one step, more after a pause (the
   * driver measures one page at a time; the other catches up when its turn
   * comes, as a stream resuming after a reconnect would). Calls `onStep` with
   * each new timestamp, the values (`value()`) being those of that step.
   */
  advance(onStep: (ts: number) => void): void {
    const now = Date.now();
    const target = Math.max(this.lastTs + STEP_MS, now - (now % STEP_MS));
    // Never more than a window's worth: older points would fall out at once.
    this.lastTs = Math.max(this.lastTs, target - POINTS * STEP_MS);
    while (this.lastTs < target) {
      this.walk();
      onStep((this.lastTs += STEP_MS));
    }
  }

  private walk(): void {
    for (let i = 0; i < this.level.length; i++) {
      const v = this.level[i]! * (1 + (this.random() - 0.5) * 0.04);
      this.level[i] = v > 1e4 ? v : 1e4;
    }
  }

  value(chart: number, series: number): number {
    return this.level[chart * SERIES + series]!;
  }

  /**
   * The hour of history up to the current second, as aligned columns: `xs` and
   * one array per chart and series (`ys[chart][series]`).
   */
  history(): { xs: number[]; ys: number[][][] } {
    const xs: number[] = [];
    const now = Date.now();
    this.lastTs = now - (now % STEP_MS) - POINTS * STEP_MS;
    const ys = Array.from({ length: CHARTS }, () => Array.from({ length: SERIES }, () => [] as number[]));
    for (let p = 0; p < POINTS; p++) {
      xs.push((this.lastTs += STEP_MS));
      this.walk();
      for (let c = 0; c < CHARTS; c++) for (let s = 0; s < SERIES; s++) ys[c]![s]!.push(this.value(c, s));
    }
    return { xs, ys };
  }
}
