import { api } from "../../api/client.ts";
import { usePoll } from "../../lib/use-poll.ts";
import { selectorOrUndefined } from "./SelectorField.tsx";

/**
 * The agents a tab's selector matches (at most `limit`), for pickers, label keys
 * and hostnames: fetched when the selector changes, not polled (the fleet changes
 * slowly next to what the tabs chart).
 */
export function useMatchingAgents(selector: () => string, limit: number) {
  return usePoll(
    () => ({ selector: selectorOrUndefined(selector()) }),
    (input) => api.agents.list.query({ ...input, limit }),
    { poll: () => false, intervalMs: 60_000 },
  );
}
