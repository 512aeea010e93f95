/**
 * Poll `check` until it returns a value other than `undefined`, `null` or `false`
 * (which it then resolves with), or fail after `timeoutMs` naming `what` and the
 * last thing seen: the value, or the error `check` threw (errors are retried,
 * because a page or the API may simply not be there yet). playwright-core has no
 * auto-retrying `expect`; this is its stand-in for conditions a locator cannot wait for.
 */
export async function until<T>(
  what: string,
  check: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  opts: { timeoutMs?: number; intervalMs?: number; debug?: () => string } = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const deadline = Date.now() + timeoutMs;
  let last = "nothing yet";
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== null && value !== false) return value;
      last = `got ${JSON.stringify(value)}`;
    } catch (error) {
      last = `last error: ${error instanceof Error ? error.message : String(error)}`;
    }
    if (Date.now() > deadline) {
      const debug = opts.debug ? `\n${opts.debug().slice(-3000)}` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${last})${debug}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 200));
  }
}
