import { TRPCClientError } from "@trpc/client";

/** The TRPCClientError a call ends with; fails the test if the call succeeds or fails otherwise. */
export async function trpcError(p: Promise<unknown>): Promise<TRPCClientError<any>> {
  try {
    await p;
  } catch (e) {
    if (e instanceof TRPCClientError) return e;
    throw e;
  }
  throw new Error("expected the call to fail");
}
