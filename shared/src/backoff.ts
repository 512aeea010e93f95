/**
 * The one retry schedule of every reconnect, re-enroll, re-watch, replay and
 * restart loop: capped exponential backoff with **full jitter** (each wait is
 * uniformly random in [0, cap), and the cap doubles up to `maxMs`). After an
 * outage a whole fleet then comes back spread over the window instead of in
 * lockstep (the AWS Architecture Blog's "Exponential Backoff And Jitter").
 * No I/O: `sleep` only sets a timer.
 */
export class Backoff {
  private capMs: number;

  /**
   * @param firstMs the cap of the first wait
   * @param maxMs the largest cap
   * @param random a source of [0, 1) (tests pass their own)
   */
  constructor(
    readonly firstMs = 500,
    readonly maxMs = 30_000,
    private readonly random: () => number = Math.random,
  ) {
    if (!(firstMs > 0) || !(maxMs >= firstMs)) throw new RangeError(`backoff needs 0 < firstMs <= maxMs (got ${firstMs}, ${maxMs})`);
    this.capMs = firstMs;
  }

  /** The cap the next wait is drawn under. */
  get currentCapMs(): number {
    return this.capMs;
  }

  /** The next wait, in ms: random in [0, cap); then the cap doubles (up to `maxMs`). */
  next(): number {
    const wait = Math.floor(this.random() * this.capMs);
    this.capMs = Math.min(this.capMs * 2, this.maxMs);
    return wait;
  }

  /** After a success: the next wait is drawn under `firstMs` again. */
  reset(): void {
    this.capMs = this.firstMs;
  }
}

/** Resolve after `ms`, or reject with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => (clearTimeout(timer), reject(signal.reason)), { once: true });
  });
}
