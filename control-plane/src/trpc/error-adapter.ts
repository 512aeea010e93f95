import { TRPCError } from "@trpc/server";
import type { TRPC_ERROR_CODE_KEY } from "@trpc/server/rpc";
import { LabelError, SelectorSyntaxError, boundedZodIssues, clipForMessage, describeZodError, type ErrorCode } from "@probepilot/shared";
import { ZodError } from "zod";
import { ServiceError } from "../services/errors.ts";

const TRPC_CODES: Record<ErrorCode, TRPC_ERROR_CODE_KEY> = {
  INVALID: "BAD_REQUEST",
  UNAUTHORIZED: "UNAUTHORIZED",
  FORBIDDEN: "FORBIDDEN",
  NOT_FOUND: "NOT_FOUND",
  CONFLICT: "CONFLICT",
  UNAVAILABLE: "SERVICE_UNAVAILABLE",
  INTERNAL: "INTERNAL_SERVER_ERROR",
};

/** What clients see for any error we did not mean to show them; the original is logged (`http/app.ts`). */
export const INTERNAL_ERROR_MESSAGE = "internal error; see the control-plane log";

/** Errors whose message is written for the caller. */
function isOurs(error: unknown): error is ServiceError | SelectorSyntaxError | LabelError {
  return error instanceof ServiceError || error instanceof SelectorSyntaxError || error instanceof LabelError;
}

/**
 * The single adapter from thrown errors to tRPC errors. Only messages written
 * for the caller get through: ServiceError (by its code), selector and label
 * errors (400), and TRPCErrors raised on purpose with a code other than
 * INTERNAL_SERVER_ERROR (a role check, input validation). Anything else (a
 * driver error carrying SQL and parameters, a NATS timeout, a bug) becomes a
 * 500 with {@link INTERNAL_ERROR_MESSAGE}, keeping the original as `cause` for the log.
 */
export function toTRPCError(error: unknown): TRPCError {
  if (error instanceof TRPCError) {
    // tRPC wraps whatever a procedure throws in an INTERNAL_SERVER_ERROR whose message is the original's.
    if (isOurs(error.cause)) return toTRPCError(error.cause);
    if (error.code !== "INTERNAL_SERVER_ERROR") return error;
    if (error.message === INTERNAL_ERROR_MESSAGE) return error;
    return internalError(error.cause ?? error);
  }
  if (error instanceof ServiceError) return new TRPCError({ code: TRPC_CODES[error.code], message: error.message, cause: error });
  if (error instanceof SelectorSyntaxError || error instanceof LabelError) {
    return new TRPCError({ code: "BAD_REQUEST", message: error.message, cause: error });
  }
  return internalError(error);
}

function internalError(cause: unknown): TRPCError {
  return new TRPCError({ code: "INTERNAL_SERVER_ERROR", message: INTERNAL_ERROR_MESSAGE, cause });
}

/**
 * Shapes every error response. Input validation failures get a one-line message
 * naming each field (`labels.Foo Bar: …`) and keep zod's issues machine-readable
 * for the UI (the first 20, cut short: an answer never grows with the input). A 500 never shows its message unless a service wrote it: this is
 * the backstop for errors raised outside the `mapErrors` middleware.
 */
export const errorFormatter = ({ shape, error }: { shape: any; error: TRPCError }) => {
  const data = { ...shape.data, stack: undefined };
  if (error.code === "BAD_REQUEST" && error.cause instanceof ZodError) {
    return { ...shape, message: `invalid input: ${describeZodError(error.cause)}`, data: { ...data, issues: boundedZodIssues(error.cause.issues) } };
  }
  if (error.code === "INTERNAL_SERVER_ERROR" && !(error.cause instanceof ServiceError)) {
    return { ...shape, message: INTERNAL_ERROR_MESSAGE, data };
  }
  // A backstop: messages quote what the caller sent (ids, names, selectors) and must not send a megabyte back.
  return { ...shape, message: clipForMessage(String(shape.message ?? ""), MAX_MESSAGE_CHARS), data };
};

/** The longest error message sent back; the messages we write are far shorter, so only echoed input is ever cut. */
export const MAX_MESSAGE_CHARS = 2000;

/**
 * A subscription's stream with its errors mapped. An error thrown while the stream
 * runs does not pass the error middleware (that saw the generator returned, not its
 * iteration): unmapped, a NOT_FOUND would reach the client as a retryable 500 and
 * it would reconnect forever.
 */
export async function* mapStreamErrors<T>(stream: AsyncIterable<T>): AsyncGenerator<T> {
  try {
    yield* stream;
  } catch (err) {
    throw toTRPCError(err);
  }
}
