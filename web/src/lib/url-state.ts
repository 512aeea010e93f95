import { useSearchParams } from "@solidjs/router";

/**
 * One string of page state kept in the URL's search params (deep links, back and
 * forward work), with a default that is left out of the URL.
 */
export function useUrlParam(name: string, fallback = ""): [() => string, (value: string) => void] {
  const [params, setParams] = useSearchParams<Record<string, string>>();
  const get = () => {
    const v = params[name];
    return (Array.isArray(v) ? v[0] : v) ?? fallback;
  };
  const set = (value: string) => setParams({ [name]: value === fallback ? undefined : value }, { replace: true });
  return [get, set];
}
