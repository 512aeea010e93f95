import { describe, expect, it } from "vitest";
import { DrizzleQueryError } from "drizzle-orm";
import { LOG_MAX_ARRAY_ITEMS, LOG_MAX_PARAMS } from "@probepilot/shared";
import { createLogger } from "../src/logger.ts";

/** A logger writing into `lines` (one string per log line, as it would reach the file). */
function capture(level = "debug") {
  const lines: string[] = [];
  const log = createLogger(level, { service: "test" }, { write: (line: string) => void lines.push(line) });
  return { log, lines };
}

/** What drizzle throws for a failed query: the SQL, every parameter, and the driver's error as cause. */
function failedQuery(params: number): DrizzleQueryError {
  const values = Array.from({ length: params }, (_, i) => `value-${i}`);
  const sqlText = `select a.id from agents a where ${Array.from({ length: params / 2 }, (_, i) => `(a.labels @> jsonb_build_object($${2 * i + 1}::text, $${2 * i + 2}::text))`).join(" and ")}`;
  const pg = Object.assign(new Error("stack depth limit exceeded"), { code: "54001", severity: "ERROR", routine: "check_stack_depth" });
  return new DrizzleQueryError(sqlText, values, pg);
}

describe("the control plane's log lines are bounded", () => {
  it("a DrizzleQueryError with 70,000 params logs in a few KiB: the SQL cut, the parameters counted, the Postgres error kept", () => {
    const err = failedQuery(70_000);
    expect(err.message.length).toBeGreaterThan(2_000_000); // the unbounded message: SQL and every parameter
    const { log, lines } = capture();
    log.error({ err, rollout: "rol_x" }, "rollout engine pass failed");
    expect(lines).toHaveLength(1);
    const line = lines[0]!;
    expect(line.length).toBeLessThan(16 * 1024);
    const entry = JSON.parse(line);
    expect(entry.msg).toBe("rollout engine pass failed");
    expect(entry.rollout).toBe("rol_x");
    expect(entry.err.type).toBe("DrizzleQueryError");
    // What a reader needs: which query (its start), how many parameters, and what Postgres said.
    expect(entry.err.query).toMatch(/^select a\.id from agents a where \(a\.labels @> jsonb_build_object\(\$1::text, \$2::text\)\)/);
    expect(entry.err.params).toEqual({ count: 70_000, first: ["value-0", "value-1", "value-2", "value-3", "value-4"].slice(0, LOG_MAX_PARAMS) });
    expect(entry.err.message).toMatch(/^Failed query: select a\.id/);
    expect(entry.err.message).toContain(": stack depth limit exceeded");
    expect(entry.err.message).not.toContain("params:");
    expect(entry.err.cause).toMatchObject({ message: "stack depth limit exceeded", code: "54001" });
    // No parameter beyond the first few appears anywhere in the line, not even in the stack.
    expect(line).not.toContain("value-5");
    expect(line).not.toContain("value-69999");
    expect(entry.err.stack.split("\n").length).toBeLessThanOrEqual(22);
  });

  it("an error passed alone (log.error(err)) does not become a huge msg", () => {
    const { log, lines } = capture();
    log.error(failedQuery(20_000));
    expect(lines[0]!.length).toBeLessThan(16 * 1024);
    const entry = JSON.parse(lines[0]!);
    expect(entry.err.params.count).toBe(20_000);
    expect(entry.msg.length).toBeLessThan(2_100);
  });

  it("any logged array, object or string is capped, and says how much was left out", () => {
    const { log, lines } = capture();
    const labels = Object.fromEntries(Array.from({ length: 70_000 }, (_, i) => [`key${i}`, `v${i}`]));
    const ids = Array.from({ length: 70_000 }, (_, i) => `agt_${i}`);
    log.warn({ labels, ids, note: "x".repeat(100_000) }, "y".repeat(100_000));
    const line = lines[0]!;
    expect(line.length).toBeLessThan(16 * 1024);
    const entry = JSON.parse(line);
    expect(entry.ids).toHaveLength(LOG_MAX_ARRAY_ITEMS + 1);
    expect(entry.ids.at(-1)).toBe(`… ${70_000 - LOG_MAX_ARRAY_ITEMS} more items (70000 in all)`);
    expect(entry.labels["…"]).toBe("69950 more keys (70000 in all)");
    expect(entry.note).toMatch(/… \(98000 more characters\)$/);
    expect(entry.msg).toMatch(/… \(98000 more characters\)$/);
  });

  it("small log lines are unchanged", () => {
    const { log, lines } = capture();
    log.info({ url: "http://127.0.0.1:7070", agents: ["a", "b"], nested: { n: 1, at: new Date(0) } }, "control plane listening");
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 30, service: "test", msg: "control plane listening", url: "http://127.0.0.1:7070", agents: ["a", "b"], nested: { n: 1, at: "1970-01-01T00:00:00.000Z" } });
  });

  it("a plain error keeps its type, message, stack and own fields", () => {
    const { log, lines } = capture();
    const err = Object.assign(new TypeError("boom", { cause: new Error("root cause") }), { code: "E_X" });
    log.error({ err }, "failed");
    const entry = JSON.parse(lines[0]!);
    expect(entry.err).toMatchObject({ type: "TypeError", message: "boom: root cause", code: "E_X", cause: { type: "Error", message: "root cause" } });
    expect(entry.err.stack).toMatch(/^TypeError: boom\n\s+at /);
  });
});
