import { batch, createEffect, createMemo, createSignal, on, onCleanup } from "solid-js";

/** What {@link usePoll} gives a page. */
export type Poll<T> = {
  /** The newest answer; kept while the next one is on its way, so tables never blink. */
  data: () => T | undefined;
  /** The last fetch's error, cleared by the next success. With `data()` set it is a stale-data warning, not a page error. */
  error: () => unknown;
  /** True while a fetch runs (the first one and every refresh). */
  loading: () => boolean;
  /** When the newest answer arrived (Unix ms), for "updated 3 s ago". */
  updatedAt: () => number | null;
  /** Fetch now (the interval restarts from this fetch). */
  refresh: () => void;
  /** Replace the data at once with a fresher answer, e.g. a mutation's result. */
  mutate: (value: T) => void;
};

/**
 * Data fetched now and every `intervalMs` while the page is open, for panels that
 * show server state without a subscription (agents, summaries).
 *
 * - `key` says what to fetch; a new key (compared by value) fetches at once, and a
 *   falsy key (e.g. a selector that does not parse yet) fetches nothing and keeps
 *   what is shown.
 * - Answers are applied only if they belong to the newest fetch, so a slow answer
 *   for an old selector can never overwrite the answer for the new one.
 * - `poll` (optional) limits the refreshes to while it holds, e.g. while a range is live.
 * - The next fetch is scheduled when the previous one settles (never two at once
 *   on a slow server), and not at all while the tab is hidden: a background tab
 *   costs the control plane nothing, and coming back fetches at once.
 */
export function usePoll<K, T>(
  key: () => K | false | null | undefined,
  fetcher: (key: K) => Promise<T>,
  opts: {
    intervalMs: number;
    keepOnKeyChange?: boolean;
    /** Refresh on the interval only while this holds (e.g. while the page's range is live); a new key always fetches. */
    poll?: () => boolean;
  },
): Poll<T> {
  const [data, setData] = createSignal<T | undefined>(undefined);
  const [error, setError] = createSignal<unknown>(undefined);
  const [loading, setLoading] = createSignal(false);
  const [updatedAt, setUpdatedAt] = createSignal<number | null>(null);
  const currentKey = createMemo(key, undefined, { equals: (a, b) => JSON.stringify(a) === JSON.stringify(b) });

  let seq = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let disposed = false;

  const schedule = () => {
    clearTimeout(timer);
    timer = undefined;
    if (disposed || document.hidden) return; // visibilitychange fetches when the tab is back
    if (opts.poll && !opts.poll()) return; // the effect on poll() fetches when it holds again
    timer = setTimeout(run, opts.intervalMs);
  };

  function run() {
    clearTimeout(timer);
    timer = undefined;
    const k = currentKey();
    if (k === false || k === null || k === undefined || disposed) {
      setLoading(false);
      return;
    }
    const mine = ++seq;
    setLoading(true);
    fetcher(k).then(
      (value) => {
        if (mine !== seq) return;
        batch(() => {
          setData(() => value);
          setError(undefined);
          setUpdatedAt(Date.now());
        });
      },
      (err: unknown) => {
        if (mine === seq) setError(() => err);
      },
    ).finally(() => {
      if (mine !== seq) return;
      setLoading(false);
      schedule();
    });
  }

  createEffect(
    on(currentKey, (k) => {
      if (k === false || k === null || k === undefined) {
        seq++; // an answer still on its way is for a key no longer wanted
        clearTimeout(timer);
        setLoading(false);
        return;
      }
      if (!opts.keepOnKeyChange) batch(() => (setData(undefined), setError(undefined)));
      run();
    }),
  );

  if (opts.poll) {
    const poll = opts.poll;
    createEffect(on(poll, (on) => void (on && timer === undefined && !loading() && run()), { defer: true }));
  }

  const onVisibility = () => {
    if (!document.hidden && timer === undefined && !loading()) run();
  };
  document.addEventListener("visibilitychange", onVisibility);
  onCleanup(() => {
    disposed = true;
    seq++;
    clearTimeout(timer);
    document.removeEventListener("visibilitychange", onVisibility);
  });

  return {
    data,
    error,
    loading,
    updatedAt,
    refresh: run,
    mutate: (value) => {
      seq++; // the answer of a fetch already on its way predates this value
      batch(() => {
        setData(() => value);
        setError(undefined);
        setUpdatedAt(Date.now());
        setLoading(false);
      });
      schedule();
    },
  };
}

/** The current time, ticking every `everyMs`: "3 s ago" labels stay true without re-fetching. */
export function useNow(everyMs = 1000): () => number {
  const [now, setNow] = createSignal(Date.now());
  const timer = setInterval(() => setNow(Date.now()), everyMs);
  onCleanup(() => clearInterval(timer));
  return now;
}
