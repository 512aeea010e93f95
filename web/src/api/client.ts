import { createTRPCClient, httpBatchLink, httpSubscriptionLink, splitLink, TRPCClientError } from "@trpc/client";
import type { inferRouterInputs, inferRouterOutputs } from "@trpc/server";
import type { AppRouter } from "@probepilot/control-plane";
import { session } from "./session.ts";

export type { AppRouter };
/** What each procedure returns, e.g. `RouterOutputs["agents"]["get"]`. */
export type RouterOutputs = inferRouterOutputs<AppRouter>;
/** What each procedure takes, e.g. `RouterInputs["rollouts"]["create"]`. */
export type RouterInputs = inferRouterInputs<AppRouter>;

/**
 * The typed tRPC client for the whole app. Queries and mutations go in batches over
 * fetch with the bearer token; subscriptions go over SSE (EventSource cannot send
 * headers, so the token travels as a connection parameter, which the server accepts).
 */
export const api = createTRPCClient<AppRouter>({
  links: [
    splitLink({
      condition: (op) => op.type === "subscription",
      true: httpSubscriptionLink({ url: "/trpc", connectionParams: () => ({ token: session.token() ?? "" }) }),
      false: httpBatchLink({
        url: "/trpc",
        maxItems: 16,
        headers: () => {
          const token = session.token();
          return token ? { authorization: `Bearer ${token}` } : {};
        },
        fetch: async (input, init) => {
          const res = await fetch(input, init);
          // A token that stopped working (revoked, expired) signs the user out at once,
          // instead of every panel showing its own 401.
          if (res.status === 401 && session.token()) session.expire();
          return res;
        },
      }),
    }),
  ],
});

/** A client for one token, used to check a token before keeping it (sign in). */
export function clientForToken(token: string) {
  return createTRPCClient<AppRouter>({ links: [httpBatchLink({ url: "/trpc", headers: () => ({ authorization: `Bearer ${token}` }) })] });
}

/** The message of an API error as the server wrote it (they say what was wrong and what would be right). */
export function errorMessage(err: unknown): string {
  if (err instanceof TRPCClientError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}

/** The tRPC error code (`NOT_FOUND`, `BAD_REQUEST`, `FORBIDDEN`…) of an API error, if it is one. */
export function errorCode(err: unknown): string | undefined {
  return err instanceof TRPCClientError ? (err.data as { code?: string } | undefined)?.code : undefined;
}
