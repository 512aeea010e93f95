import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { captureCli } from "@probepilot/testkit/run-cli";
import { startHarness, type Harness } from "@probepilot/testkit/control-plane-harness";
import { enrollAgents } from "@probepilot/testkit/fake-hello";
import { CLI_BIN } from "@probepilot/testkit/bins";


let h: Harness;
let configHome: string;
beforeAll(async () => {
  h = await startHarness();
  configHome = await mkdtemp(path.join(tmpdir(), "pp-cli-"));
  // One agent to list, enrolled through the real enroll path.
  const { token } = await h.client().enrollTokens.create.mutate({});
  await enrollAgents(h.cp.url, token, 3, { prefix: "cli-host", hello: (i) => ({ userLabels: { env: i === 0 ? "prod" : "staging" } }) });
});
afterAll(async () => {
  await h?.stop();
  await rm(configHome, { recursive: true, force: true });
});

/** Run the CLI in-process with a clean environment; returns exit code and output. */
const cli = (args: string[], env: Record<string, string | undefined> = {}) => captureCli(args, { XDG_CONFIG_HOME: configHome, PROBEPILOT_URL: h.cp.url, ...env });

describe("probepilot CLI", () => {
  it("without a token: exit 1 and says how to authenticate", async () => {
    const r = await cli(["agents", "list"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/missing API token/);
    expect(r.stderr).toMatch(/PROBEPILOT_TOKEN/);
  });

  it("tokens create --role prints the token once; --json gives it to tools", async () => {
    const human = await cli(["tokens", "create", "--role", "viewer", "--name", "dash"], { PROBEPILOT_TOKEN: h.adminToken });
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/created viewer token tok_\w+ \(dash\)/);
    expect(human.stdout).toMatch(/^ppt_/m);
    const json = await cli(["tokens", "create", "--role", "operator", "--json"], { PROBEPILOT_TOKEN: h.adminToken });
    const parsed = JSON.parse(json.stdout);
    expect(parsed).toMatchObject({ role: "operator", token: expect.stringMatching(/^ppt_/) });
    const list = await cli(["tokens", "list", "--json"], { PROBEPILOT_TOKEN: h.adminToken });
    expect(JSON.parse(list.stdout).map((t: { name: string }) => t.name)).toEqual(expect.arrayContaining(["dash", "bootstrap-admin"]));
  });

  it("a bad role is a usage error (exit 2) naming the choices", async () => {
    const r = await cli(["tokens", "create", "--role", "root"], { PROBEPILOT_TOKEN: h.adminToken });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--role must be one of viewer, operator, admin \(got "root"\)/);
  });

  it("enroll-tokens create prints the agent command line", async () => {
    const r = await cli(["enroll-tokens", "create", "--description", "rack 4", "--expires-in", "2h"], { PROBEPILOT_TOKEN: h.adminToken });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/probepilot-agent --control-plane .* --nats .* --enroll-token ppe_/);
    expect(r.stdout).toMatch(/expires \d{4}-.*enrolls at most 1000 agents/);
    const list = JSON.parse((await cli(["enroll-tokens", "list", "--json"], { PROBEPILOT_TOKEN: h.adminToken })).stdout);
    const created = list.find((t: { description: string }) => t.description === "rack 4");
    expect(new Date(created.expiresAt).getTime() - Date.now()).toBeGreaterThan(7100_000);
    const bad = await cli(["enroll-tokens", "create", "--expires-in", "soon"], { PROBEPILOT_TOKEN: h.adminToken });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--expires-in "soon": expected a duration/);
  });

  it("login saves URL and token (mode 0600) and later calls use them", async () => {
    const r = await cli(["login", "--token", h.adminToken]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/logged in to .* as token:bootstrap-admin/);
    const file = path.join(configHome, "probepilot", "login.json");
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const who = await cli(["whoami", "--json"], { PROBEPILOT_URL: undefined });
    expect(JSON.parse(who.stdout).role).toBe("admin");
    const bad = await cli(["login", "--token", "ppt_wrong"]);
    expect(bad.code).toBe(1);
  });

  it("agents list: a table for humans, JSON for tools, and selector errors with the position", async () => {
    const env = { PROBEPILOT_TOKEN: h.adminToken };
    const table = await cli(["agents", "list"], env);
    expect(table.code).toBe(0);
    expect(table.stdout.split("\n")[0]).toMatch(/^ID\s+HOSTNAME\s+STATUS\s+LAST SEEN\s+KERNEL\s+ARCH\s+PROBES\s+LABELS$/);
    expect(table.stdout).toMatch(/agt_\w+\s+cli-host-0\s+online\s+\d+s ago\s+6\.1\.0-test\s+x86_64\s+-\s+env=prod/);
    expect(table.stdout).toMatch(/3 of 3 agent\(s\)/);
    const json = JSON.parse((await cli(["agents", "list", "--json", "--selector", "env=staging"], env)).stdout);
    expect(json.total).toBe(2);
    expect(json.items.length).toBe(2);
    for (const a of json.items) expect(a.labels.env).toBe("staging");
    const bad = await cli(["agents", "list", "--selector", "env in staging"], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/position 7: expected "\(" after "in"/);
  });

  it("agents label rejects a malformed label before calling the API", async () => {
    const r = await cli(["agents", "label", "agt_x", "Bad Key=v"], { PROBEPILOT_TOKEN: h.adminToken });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/label key "Bad Key"/);
  });

  it("an unreachable control plane gets a message saying so", async () => {
    const r = await cli(["agents", "list"], { PROBEPILOT_URL: "http://127.0.0.1:1", PROBEPILOT_TOKEN: h.adminToken });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot reach the control plane at http:\/\/127.0.0.1:1/);
  });

  it("the installed bin runs as a real process with clean JSON on stdout", async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [CLI_BIN, "whoami", "--json"], { env: { ...process.env, XDG_CONFIG_HOME: configHome, PROBEPILOT_URL: h.cp.url, PROBEPILOT_TOKEN: h.adminToken } });
    expect(JSON.parse(stdout)).toMatchObject({ role: "admin" });
  });
});
