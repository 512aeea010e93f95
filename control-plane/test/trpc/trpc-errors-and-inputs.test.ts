import { describe, expect, it } from "vitest";
import { TRPCError } from "@trpc/server";
import { z } from "zod";
import { IdSchema, LabelError, SelectorSyntaxError, idSchema, newId, parseSelector } from "@probepilot/shared";
import { INTERNAL_ERROR_MESSAGE, errorFormatter, toTRPCError } from "../../src/trpc/error-adapter.ts";
import { ExpiresInSecSchema, MAX_EXPIRES_IN_SEC, singleLineText } from "../../src/trpc/input-schemas.ts";
import { ServiceError } from "../../src/services/errors.ts";

/** What tRPC does with anything a procedure throws. */
const wrapped = (cause: unknown) => new TRPCError({ code: "INTERNAL_SERVER_ERROR", cause });

function selectorError(): SelectorSyntaxError {
  try {
    parseSelector("env in staging");
  } catch (e) {
    if (e instanceof SelectorSyntaxError) return e;
  }
  throw new Error("expected a SelectorSyntaxError");
}

describe("toTRPCError", () => {
  it("hides the message of anything unexpected, keeping the original as cause", () => {
    const sqlError = new Error('Failed query: insert into "api_tokens" … params: ten_x,deadbeef');
    for (const thrown of [sqlError, wrapped(sqlError)]) {
      const out = toTRPCError(thrown);
      expect(out.code).toBe("INTERNAL_SERVER_ERROR");
      expect(out.message).toBe(INTERNAL_ERROR_MESSAGE);
      expect(out.cause).toBe(sqlError);
    }
    // Non-Error throws too, and a TRPCError raised as INTERNAL on purpose.
    expect(toTRPCError("a string").message).toBe(INTERNAL_ERROR_MESSAGE);
    expect(toTRPCError(new TRPCError({ code: "INTERNAL_SERVER_ERROR", message: "select * from secrets" })).message).toBe(INTERNAL_ERROR_MESSAGE);
    // Mapping twice changes nothing.
    const once = toTRPCError(wrapped(sqlError));
    expect(toTRPCError(once)).toBe(once);
  });

  it("maps our errors by code with their message, wrapped by tRPC or not", () => {
    const notFound = new ServiceError("NOT_FOUND", 'agent "agt_x" not found');
    for (const thrown of [notFound, wrapped(notFound)]) expect(toTRPCError(thrown)).toMatchObject({ code: "NOT_FOUND", message: 'agent "agt_x" not found', cause: notFound });
    expect(toTRPCError(new ServiceError("INTERNAL", "the policy bucket is missing"))).toMatchObject({ code: "INTERNAL_SERVER_ERROR", message: "the policy bucket is missing" });
    expect(toTRPCError(wrapped(selectorError()))).toMatchObject({ code: "BAD_REQUEST", message: expect.stringMatching(/position 7/) });
    expect(toTRPCError(new LabelError("label key \"A B\": …"))).toMatchObject({ code: "BAD_REQUEST", message: 'label key "A B": …' });
  });

  it("passes intentional TRPCErrors through: role checks and input validation", () => {
    const forbidden = new TRPCError({ code: "FORBIDDEN", message: 'this call needs the "admin" role; your token has "viewer"' });
    expect(toTRPCError(forbidden)).toBe(forbidden);
    const zod = z.object({ id: z.string() }).safeParse({ id: 1 }).error!;
    const badInput = new TRPCError({ code: "BAD_REQUEST", cause: zod });
    expect(toTRPCError(badInput)).toBe(badInput);
  });
});

describe("errorFormatter", () => {
  const shape = (message: string, code: string) => ({ message, code: -32603, data: { code, httpStatus: 500, path: "x", stack: "at secret.ts:1" } });

  it("turns a zod input error into one line naming the field, with the issues", () => {
    const zod = z.object({ role: z.enum(["viewer"]) }).safeParse({ role: "root" }).error!;
    const out = errorFormatter({ shape: shape("[…]", "BAD_REQUEST"), error: new TRPCError({ code: "BAD_REQUEST", cause: zod }) });
    expect(out.message).toMatch(/^invalid input: role: /);
    expect(out.data.issues).toEqual(zod.issues);
    expect(out.data.stack).toBeUndefined();
  });

  it("never shows the message of a 500 that a service did not write, whatever its cause", () => {
    const zod = z.string().safeParse(1).error!;
    for (const error of [new TRPCError({ code: "INTERNAL_SERVER_ERROR", message: "select 1" }), new TRPCError({ code: "INTERNAL_SERVER_ERROR", cause: zod })]) {
      const out = errorFormatter({ shape: shape(error.message, "INTERNAL_SERVER_ERROR"), error });
      expect(out.message).toBe(INTERNAL_ERROR_MESSAGE);
      expect(out.data.issues).toBeUndefined();
    }
    const ours = toTRPCError(new ServiceError("INTERNAL", "the policy bucket is missing"));
    expect(errorFormatter({ shape: shape(ours.message, "INTERNAL_SERVER_ERROR"), error: ours }).message).toBe("the policy bucket is missing");
  });
});

describe("input schemas", () => {
  it("IdSchema accepts ids from newId and explains the shape otherwise", () => {
    expect(IdSchema.parse(newId("agent"))).toMatch(/^agt_/);
    for (const bad of ["", "agt_", "a\u0000b", "AGT_01HX0000000000000000000000", `${newId("agent")}x`]) {
      expect(IdSchema.safeParse(bad).error?.issues[0]?.message, JSON.stringify(bad)).toBe('expected an id such as agt_01h…: 3 lowercase letters, "_", 26 base32 characters');
    }
  });

  it("idSchema(kind) also checks the prefix", () => {
    expect(idSchema("apiToken").safeParse(newId("apiToken")).success).toBe(true);
    expect(idSchema("apiToken").safeParse(newId("agent")).error?.issues[0]?.message).toBe('expected an API token id such as tok_01h…: "tok_" then 26 base32 characters');
    expect(idSchema("tenant").safeParse("x").error?.issues[0]?.message).toMatch(/^expected a tenant id such as ten_01h…/);
  });

  it("singleLineText trims, bounds the length and names the first control character", () => {
    const name = singleLineText({ min: 1, max: 5 });
    expect(name.parse("  ab  ")).toBe("ab");
    expect(name.safeParse("   ").error?.issues[0]?.message).toBe("must not be empty");
    expect(name.safeParse("abcdef").error?.issues[0]?.message).toBe("must be at most 5 characters");
    expect(name.safeParse("a\u0000b").error?.issues[0]?.message).toBe("must not contain control characters (found U+0000 at position 1); use printable text on one line");
    expect(name.safeParse("\u007f").error?.issues[0]?.message).toMatch(/U\+007F/);
    expect(name.parse("é☕")).toBe("é☕");
  });

  it("ExpiresInSecSchema is a positive whole number of seconds up to 10 years", () => {
    expect(ExpiresInSecSchema.parse(MAX_EXPIRES_IN_SEC)).toBe(MAX_EXPIRES_IN_SEC);
    // 10 years from now is a valid Date; the point of the cap.
    expect(Number.isNaN(new Date(Date.now() + MAX_EXPIRES_IN_SEC * 1000).getTime())).toBe(false);
    for (const bad of [0, -1, 1.5, MAX_EXPIRES_IN_SEC + 1, 1e20]) expect(ExpiresInSecSchema.safeParse(bad).success, String(bad)).toBe(false);
    expect(ExpiresInSecSchema.safeParse(1e20).error?.issues.map((i) => i.message)).toEqual(["must be at most 315360000 seconds (10 years)"]);
  });
});
