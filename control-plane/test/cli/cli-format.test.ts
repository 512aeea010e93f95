import { describe, expect, it } from "vitest";
import { renderTable, ago, formatLabels } from "../../src/cli/table.ts";
import { parseDurationSec } from "../../src/cli/duration.ts";
import { runCli } from "../../src/cli/main.ts";
import { parseControlPlaneEnv } from "../../src/env.ts";
import { bearerToken } from "../../src/http/app.ts";

describe("renderTable", () => {
  it("pads columns to their widest cell and cuts long cells with an ellipsis", () => {
    const out = renderTable(["ID", "NAME"], [["1", "short"], ["22", "x".repeat(10)]], 6);
    expect(out.split("\n")).toEqual(["ID  NAME", "1   short", "22  xxxxx…"]);
  });
});

describe("ago", () => {
  const now = Date.UTC(2026, 0, 1, 12);
  it.each([
    [now - 5_000, "5s ago"],
    [now - 5 * 60_000, "5m ago"],
    [now - 3 * 3600_000, "3h ago"],
    [now - 2 * 86_400_000, "2d ago"],
    [now + 10_000, "0s ago"],
  ])("%s → %s", (t, text) => expect(ago(new Date(t), now)).toBe(text));
  it("shows - for never", () => expect(ago(null)).toBe("-"));
});

describe("formatLabels", () => {
  it("sorts, and can hide the agent's own host-fact labels", () => {
    const labels = { "probepilot.io/arch": "amd64", team: "core", env: "prod" };
    expect(formatLabels(labels)).toBe("env=prod,probepilot.io/arch=amd64,team=core");
    expect(formatLabels(labels, { hideHostFacts: true })).toBe("env=prod,team=core");
  });
});

describe("parseDurationSec", () => {
  it.each([["90", 90], ["90s", 90], ["15m", 900], ["24h", 86_400], ["7d", 604_800], ["2w", 1_209_600], ["1.5h", 5400]])("%s = %i s", (text, sec) => expect(parseDurationSec(text, "--x")).toBe(sec));
  it.each(["", "soon", "5y", "-5m", "0", "1h30m"])("rejects %j saying what a duration looks like", (text) => expect(() => parseDurationSec(text, "--expires-in")).toThrow(/--expires-in/));
});

describe("CLI usage errors (exit 2, nothing called)", () => {
  const run = async (args: string[]) => {
    let stderr = "";
    let stdout = "";
    const code = await runCli(args, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), env: { PROBEPILOT_URL: "http://127.0.0.1:1" } });
    return { code, stderr, stdout };
  };
  it("no command prints the usage", async () => expect(await run([])).toMatchObject({ code: 2, stderr: expect.stringMatching(/^usage: probepilot/) }));
  it("--help prints the usage on stdout", async () => expect(await run(["--help"])).toMatchObject({ code: 0, stdout: expect.stringMatching(/agents list/) }));
  it("an unknown command is named", async () => expect((await run(["agents", "explode"])).stderr).toMatch(/unknown command "agents explode"/));
  it("an unknown flag is named", async () => expect((await run(["agents", "list", "--colour"])).stderr).toMatch(/--colour/));
  it("a missing id says which", async () => expect(await run(["agents", "get"])).toMatchObject({ code: 2, stderr: '"agents get" needs the agent id\n' }));
  it("agents label without changes", async () => expect((await run(["agents", "label", "agt_1"])).stderr).toMatch(/at least one k=v/));
  it("a bad --status", async () => expect((await run(["agents", "list", "--status", "up"])).stderr).toMatch(/--status must be one of online, offline, revoked, not "up"/));
});

describe("control-plane env", () => {
  it("lists every problem in one message", () => {
    expect(() => parseControlPlaneEnv({ DATABASE_URL: "not a url", PROBEPILOT_PORT: "99999" })).toThrow(/invalid control-plane configuration: DATABASE_URL: DATABASE_URL must be a postgres:\/\/ URL; PROBEPILOT_PORT: /);
  });
  it("fills defaults and resolves the data dir", () => {
    const env = parseControlPlaneEnv({ DATABASE_URL: "postgres://u@h/db" });
    expect(env).toMatchObject({ PROBEPILOT_PORT: 7070, NATS_URL: "nats://127.0.0.1:4222", PROBEPILOT_OFFLINE_AFTER_HEARTBEATS: 3 });
    expect(env.dataDir).toMatch(/^\/.*\.probepilot$/);
  });
});

describe("bearerToken", () => {
  it.each([
    ["Bearer ppt_abc", "ppt_abc"],
    ["bearer   ppt_abc  ", "ppt_abc"],
    ["Basic dXNlcjpwYXNz", undefined],
    ["Bearer", undefined],
    [undefined, undefined],
  ])("%j → %j", (header, token) => expect(bearerToken(header)).toBe(token));
});
