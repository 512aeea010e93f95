import { createTRPCClient, httpLink, TRPCClientError } from "@trpc/client";
import type { AppRouter } from "../trpc/app-router.ts";

export type ApiClient = ReturnType<typeof createTRPCClient<AppRouter>>;

/** A typed tRPC client for the control plane at `url`. */
export function createApiClient(url: string, token: string | undefined): ApiClient {
  return createTRPCClient<AppRouter>({
    links: [httpLink({ url: `${url}/trpc`, headers: () => (token ? { authorization: `Bearer ${token}` } : {}) })],
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
