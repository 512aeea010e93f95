/**
 * What a benchmark set up, torn down newest first: `cleanups.push({ name, run })`
 * as things start, `cleanup()` at the end, on failure and on Ctrl-C (it runs
 * once however often it is called; a failing step is reported and the rest still run).
 */
export function teardownStack(): { cleanups: { name: string; run: () => Promise<unknown> }[]; cleanup: () => Promise<void> } {
  const cleanups: { name: string; run: () => Promise<unknown> }[] = [];
  let cleaning: Promise<void> | null = null;
  const cleanup = () =>
    (cleaning ??= (async () => {
      for (const c of cleanups.reverse()) {
        try {
          await c.run();
        } catch (err) {
          process.stderr.write(`bench cleanup: ${c.name} failed: ${(err as Error).message}\n`);
        }
      }
    })());
  return { cleanups, cleanup };
}
