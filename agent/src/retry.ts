/**
 * Capped exponential backoff with full jitter: each wait is random in
 * [0, cap), and the cap doubles up to `maxMs`. A fleet that lost its control
 * plane then comes back spread out, never in lockstep.
 */
export class Backoff {
  private capMs: number;

  constructor(
    private readonly firstMs = 500,
    private readonly maxMs = 30_000,
  ) {
    this.capMs = firstMs;
  }

  /** The next wait, in ms. */
  next(): number {
    const wait = Math.round(Math.random() * this.capMs);
    this.capMs = Math.min(this.capMs * 2, this.maxMs);
    return wait;
  }

  reset(): void {
    this.capMs = this.firstMs;
  }
}

/** Resolve after `ms`, or reject with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => (clearTimeout(timer), reject(signal.reason)), { once: true });
  });
}
