/**
 * Poll `check` until it returns without throwing, or rethrow its last error after
 * `timeoutMs`. For state that changes asynchronously (consumers, sweepers).
 */
export async function eventually<T>(check: () => Promise<T> | T, opts: { timeoutMs?: number; intervalMs?: number } = {}): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, opts.intervalMs ?? 50));
    }
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
