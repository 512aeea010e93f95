import { describe, expect, it } from "vitest";
import { createAgentLogger } from "../src/logger.ts";

describe("the agent's log lines are bounded", () => {
  it("an error carrying a 70,000-item parameter list, a huge message and a huge array log in a few KiB", () => {
    const lines: string[] = [];
    const log = createAgentLogger("debug", { write: (line: string) => void lines.push(line) });
    const params = Array.from({ length: 70_000 }, (_, i) => `value-${i}`);
    const err = Object.assign(new Error(`Failed query: select 1\nparams: ${params.join(",")}`), { query: "select 1", params });
    log.error({ err, segments: params }, "reading the telemetry spool failed");
    log.error(err);
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      expect(line.length).toBeLessThan(16 * 1024);
      expect(line).not.toContain("value-69999");
    }
    const [first, second] = lines.map((l) => JSON.parse(l));
    expect(first).toMatchObject({ service: "agent", msg: "reading the telemetry spool failed", err: { type: "Error", query: "select 1", params: { count: 70_000 } } });
    expect(first.segments).toHaveLength(21);
    expect(second.err.params.count).toBe(70_000);
  });
});
