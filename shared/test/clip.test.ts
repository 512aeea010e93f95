import { describe, expect, it } from "vitest";
import { z } from "zod";
import { ECHO_MAX_CHARS, clipForMessage, describeZodError, quoteForMessage } from "../src/index.ts";

describe("echoing caller input in messages", () => {
  it("quotes short input whole and long input by its head and length", () => {
    expect(quoteForMessage("env in staging")).toBe('"env in staging"');
    expect(quoteForMessage("x".repeat(ECHO_MAX_CHARS))).toBe(JSON.stringify("x".repeat(ECHO_MAX_CHARS)));
    expect(quoteForMessage("x".repeat(5000))).toBe(`${JSON.stringify("x".repeat(ECHO_MAX_CHARS))}… (5000 characters)`);
    expect(clipForMessage("abcdef", 3)).toBe("abc… (6 characters)");
  });

  it("never cuts a character in half", () => {
    const text = `${"a".repeat(9)}😀${"b".repeat(20)}`;
    expect(clipForMessage(text, 10)).toBe(`${"a".repeat(9)}… (${text.length} characters)`);
  });

  it("describeZodError cuts record keys in paths and counts the issues it leaves out", () => {
    const schema = z.record(z.string(), z.number());
    const input = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`${i}${"k".repeat(1000)}`, "x"]));
    const text = describeZodError(schema.safeParse(input).error!);
    expect(text.length).toBeLessThan(5 * (ECHO_MAX_CHARS + 100) + 50);
    expect(text).toContain("(1001 characters)");
    expect(text).toMatch(/; and 3 more issues$/);
  });
});
