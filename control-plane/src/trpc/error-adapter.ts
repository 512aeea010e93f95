import { TRPCError } from "@trpc/server";
import type { TRPC_ERROR_CODE_KEY } from "@trpc/server/rpc";
import { LabelError, SelectorSyntaxError, describeZodError, type ErrorCode } from "@probepilot/shared";
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

/** The single adapter from service-layer errors to tRPC errors. */
export function toTRPCError(error: unknown): TRPCError {
  if (error instanceof TRPCError) {
    // tRPC wraps whatever a procedure throws; map the original when it is one of ours.
    const cause = error.cause;
    if (cause instanceof ServiceError || cause instanceof SelectorSyntaxError || cause instanceof LabelError) return toTRPCError(cause);
    return error;
  }
  if (error instanceof ServiceError) return new TRPCError({ code: TRPC_CODES[error.code], message: error.message, cause: error });
  if (error instanceof SelectorSyntaxError || error instanceof LabelError) {
    return new TRPCError({ code: "BAD_REQUEST", message: error.message, cause: error });
  }
  return new TRPCError({ code: "INTERNAL_SERVER_ERROR", message: "internal error; see the control-plane log", cause: error instanceof Error ? error : undefined });
}

/**
 * Input validation failures get a one-line message naming each field
 * (`labels.Foo Bar: …`) and keep zod's issues machine-readable for the UI.
 */
export const errorFormatter = ({ shape, error }: { shape: any; error: TRPCError }) => {
  if (error.cause instanceof ZodError) {
    return { ...shape, message: `invalid input: ${describeZodError(error.cause)}`, data: { ...shape.data, issues: error.cause.issues, stack: undefined } };
  }
  return { ...shape, data: { ...shape.data, stack: undefined } };
};
