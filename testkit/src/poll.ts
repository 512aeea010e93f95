/**
 * Waiting for state that changes asynchronously (consumers, sweepers, a page, a child
 * process), in two shapes: `eventually` retries an assertion until it stops throwing;
 * `waitFor` polls until a value is there and returns it.
 */

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Retry `check` until it returns without throwing, or rethrow its last error after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T> | T, opts: { timeoutMs?: number; intervalMs?: number } = {}): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(opts.intervalMs ?? 50);
    }
  }
}

export type WaitForOptions = {
  /** What is awaited, for the timeout's message ("agent offline after its goodbye"). */
  what: string;
  timeoutMs?: number;
  intervalMs?: number;
  /** Appended to the timeout's message, e.g. a child process's output. */
  debug?: () => string;
};

/**
 * Poll `probe` until it returns something other than `undefined`, `null` or `false`,
 * and resolve with it; fail after `timeoutMs` naming `what` and the last thing seen
 * (the value, or the error `probe` threw: errors are retried, because a process,
 * a page or the API may simply not be there yet).
 */
export async function waitFor<T>(probe: () => Promise<T | undefined | null | false> | T | undefined | null | false, opts: WaitForOptions): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const deadline = Date.now() + timeoutMs;
  let last = "nothing yet";
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== null && value !== false) return value;
      last = `got ${JSON.stringify(value)}`;
    } catch (error) {
      last = `last error: ${error instanceof Error ? error.message : String(error)}`;
    }
    if (Date.now() > deadline) {
      const debug = opts.debug ? `\n--- output ---\n${opts.debug().slice(-4000)}` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${opts.what} (${last})${debug}`);
    }
    await sleep(opts.intervalMs ?? 100);
  }
}
