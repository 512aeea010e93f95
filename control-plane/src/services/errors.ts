import type { ErrorCode } from "@probepilot/shared";

/**
 * The one error family services throw. Transports map it once
 * (`trpc/error-adapter.ts` for tRPC; the NATS responders reply with code and message).
 */
export class ServiceError extends Error {
  override readonly name = "ServiceError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const notFound = (what: string, id: string) => new ServiceError("NOT_FOUND", `${what} "${id}" not found`);
