import { useSearchParams } from "@solidjs/router";

/**
 * One string of page state kept in the URL's search params (deep links, back and
 * forward work), with a default that is left out of the URL. A change replaces the
 * history entry (typing must not flood it) unless `push` is set, as for tabs, so
 * that Back returns to the previous view.
 */
export function useUrlParam(name: string, fallback = "", opts: { push?: boolean } = {}): [() => string, (value: string) => void] {
  const [params, setParams] = useSearchParams<Record<string, string>>();
  const get = () => {
    const v = params[name];
    return (Array.isArray(v) ? v[0] : v) ?? fallback;
  };
  const set = (value: string) => setParams({ [name]: value === fallback ? undefined : value }, { replace: !opts.push });
  return [get, set];
}
