/**
 * Poll `probe` until it returns something other than undefined, or fail after
 * `timeoutMs` with what was awaited (and `debug()` output, e.g. a child's logs).
 */
export async function waitFor<T>(probe: () => Promise<T | undefined>, opts: { what: string; timeoutMs?: number; intervalMs?: number; debug?: () => string }): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline) {
      const tail = opts.debug ? `\n--- output ---\n${opts.debug().slice(-4000)}` : "";
      throw new Error(`timed out waiting for ${opts.what}${lastError ? ` (last error: ${String(lastError)})` : ""}${tail}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 100));
  }
}
