import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ECHO_MAX_CHARS, newId } from "@probepilot/shared";
import { startHarness, type Harness } from "@probepilot/testkit/control-plane-harness";

/**
 * Error answers quote what was wrong so that the caller can fix it, but never send
 * large input back: echoed selectors, label keys and values, unknown parameter
 * names, record keys in zod paths are cut to ~100 characters, and the whole
 * answer stays small however large the request was.
 */
let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.stop();
});

/** POST a mutation's raw input; the status and the answer's text. */
async function mutate(path: string, input: unknown): Promise<{ status: number; text: string; body: any; sent: number }> {
  const body = JSON.stringify(input);
  const res = await fetch(`${h.cp.url}/trpc/${path}`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${h.adminToken}` }, body });
  const text = await res.text();
  return { status: res.status, text, body: JSON.parse(text), sent: body.length };
}

const BIG = 200_000;

describe("error answers do not echo large input", () => {
  it("a huge selector is refused for its length, quoted by its first 100 characters and its length", async () => {
    const selector = `env in staging${"x".repeat(BIG)}`;
    const r = await mutate("rollouts.create", { probe: "host", selector });
    expect(r.status).toBe(400);
    expect(r.text.length).toBeLessThan(2000);
    expect(r.body.error.message).toBe(`invalid input: selector: selector ${JSON.stringify(selector.slice(0, 100))}… (200,014 characters): too long: at most 8,192 characters (200,014 given)`);
  });

  it("a long invalid selector within the length limit is quoted by its start and its length, the offending token by its first 320 characters", async () => {
    const selector = `env in staging${"x".repeat(8000)}`;
    const r = await mutate("rollouts.create", { probe: "host", selector });
    expect(r.status).toBe(400);
    expect(r.text.length).toBeLessThan(2000);
    expect(r.body.error.message).toBe(
      `invalid input: selector: selector ${JSON.stringify(selector.slice(0, 100))}… (8,014 characters): at position 7: expected "(" after "in", found ${JSON.stringify(`staging${"x".repeat(ECHO_MAX_CHARS - 7)}`)}…`,
    );
  });

  it("a short invalid selector is still quoted whole", async () => {
    const r = await mutate("rollouts.create", { probe: "host", selector: "env in staging" });
    expect(r.body.error.message).toBe('invalid input: selector: selector "env in staging": at position 7: expected "(" after "in", found "staging"');
  });

  it("a huge label key or value is cut in the message, the zod path and the issues", async () => {
    const key = `Bad Key ${"k".repeat(BIG)}`;
    const r = await mutate("agents.setLabels", { id: newId("agent"), labels: { [key]: "v" } });
    expect(r.status).toBe(400);
    expect(r.text.length).toBeLessThan(4000);
    expect(r.text).not.toContain("k".repeat(ECHO_MAX_CHARS + 1));
    // Refused for the label set's size before any key is looked at: the answer names the limit and the size, not the key.
    expect(r.body.error.message).toBe(`invalid input: labels: at most 16,384 bytes of label keys and values in one label set (200,009 given)`);
    for (const issue of r.body.error.data.issues ?? []) for (const seg of issue.path) expect(String(seg).length).toBeLessThanOrEqual(ECHO_MAX_CHARS + 30);

    const value = `bad value ${"v".repeat(BIG)}`;
    const v = await mutate("agents.setLabels", { id: newId("agent"), labels: { good: value } });
    expect(v.status).toBe(400);
    expect(v.text.length).toBeLessThan(4000);
    expect(v.text).not.toContain("v".repeat(ECHO_MAX_CHARS + 1));
  });

  it("many invalid fields are summed up, not listed one by one", async () => {
    const labels = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`Bad Key ${i}`, "v"]));
    const r = await mutate("agents.setLabels", { id: newId("agent"), labels });
    expect(r.status).toBe(400);
    expect(r.sent).toBeGreaterThan(50_000);
    expect(r.text.length).toBeLessThan(10_000);
  });

  it("huge unknown probe parameters and names are cut too", async () => {
    const name = "p".repeat(BIG);
    const r = await mutate("probes.createVersion", { probe: "tcp_flows", params: { [name]: 1 } });
    expect(r.status).toBe(400);
    expect(r.text.length).toBeLessThan(4000);
    expect(r.text).not.toContain("p".repeat(ECHO_MAX_CHARS + 1));

    const missing = await mutate("probes.createVersion", { probe: "q".repeat(BIG), params: {} });
    expect(missing.status).toBeLessThan(500);
    expect(missing.text.length).toBeLessThan(4000);
  });
});
