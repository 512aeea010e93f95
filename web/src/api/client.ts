import { createTRPCClient, httpBatchLink, httpSubscriptionLink, splitLink, TRPCClientError, type TRPCLink } from "@trpc/client";
import type { inferRouterInputs, inferRouterOutputs } from "@trpc/server";
import { observable } from "@trpc/server/observable";
import type { AppRouter } from "@probepilot/control-plane";
import { session } from "./session.ts";

export type { AppRouter };
/** What each procedure returns, e.g. `RouterOutputs["agents"]["get"]`. */
export type RouterOutputs = inferRouterOutputs<AppRouter>;
/** What each procedure takes, e.g. `RouterInputs["rollouts"]["create"]`. */
export type RouterInputs = inferRouterInputs<AppRouter>;

/**
 * A live stream the server ended because its token stopped working (revoked or
 * expired while it ran): sign out at once, saying why. tRPC does not retry an
 * UNAUTHORIZED stream, so nothing keeps knocking with the dead token.
 */
const signOutWhenStreamUnauthorized: TRPCLink<AppRouter> =
  () =>
  ({ next, op }) =>
    observable((observer) => {
      const sub = next(op).subscribe({
        next: (value) => observer.next(value),
        error: (err) => {
          if (errorCode(err) === "UNAUTHORIZED" && session.token()) session.expire(err.message);
          observer.error(err);
        },
        complete: () => observer.complete(),
      });
      return () => sub.unsubscribe();
    });

/** The message of a tRPC error answer (one call or a batch), if the body is one. */
async function answerMessage(res: Response): Promise<string | undefined> {
  try {
    const json = (await res.clone().json()) as unknown;
    const first = (Array.isArray(json) ? json[0] : json) as { error?: { message?: unknown } } | undefined;
    return typeof first?.error?.message === "string" ? first.error.message : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The typed tRPC client for the whole app. Queries and mutations go in batches over
 * fetch with the bearer token; subscriptions go over SSE (EventSource cannot send
 * headers, so the token travels as a connection parameter, which the server accepts
 * for subscriptions only).
 */
export const api = createTRPCClient<AppRouter>({
  links: [
    splitLink({
      condition: (op) => op.type === "subscription",
      true: [signOutWhenStreamUnauthorized, httpSubscriptionLink({ url: "/trpc", connectionParams: () => ({ token: session.token() ?? "" }) })],
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
          if (res.status === 401 && session.token()) session.expire(await answerMessage(res));
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
