import { createTRPCClient, httpLink, httpSubscriptionLink, splitLink, TRPCClientError } from "@trpc/client";
import { EventSource } from "eventsource";
import type { AppRouter } from "../trpc/app-router.ts";

export type ApiClient = ReturnType<typeof createTRPCClient<AppRouter>>;

/**
 * A typed tRPC client for the control plane at `url`: queries and mutations over
 * HTTP, subscriptions over SSE (Node 20 has no EventSource: the `eventsource`
 * package provides one that can send the Authorization header).
 */
export function createApiClient(url: string, token: string | undefined): ApiClient {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === "subscription",
        true: httpSubscriptionLink({
          url: `${url}/trpc`,
          EventSource,
          eventSourceOptions: () => ({ fetch: (input, init) => fetch(input, { ...init, headers: { ...init?.headers, ...headers } }) }),
        }),
        false: httpLink({ url: `${url}/trpc`, headers: () => headers }),
      }),
    ],
  });
}

/** A message a person can act on, for any error a call can end with. */
export function describeCallError(error: unknown, url: string): string {
  if (error instanceof TRPCClientError) {
    const status = (error.data as { httpStatus?: number } | undefined)?.httpStatus;
    if (status === undefined && /fetch failed|ECONNREFUSED/i.test(String(error.cause ?? error.message))) {
      return `cannot reach the control plane at ${url}: is it running (npm start)? Set PROBEPILOT_URL or --url to point elsewhere`;
    }
    const hint = status === 401 ? " (set PROBEPILOT_TOKEN, pass --token, or run `probepilot login`)" : "";
    return `${error.message}${hint}`;
  }
  return error instanceof Error ? error.message : String(error);
}
