import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { RolloutPreview, RolloutView } from "@probepilot/shared";
import { runCli } from "../../src/cli/main.ts";
import { captureCli } from "@probepilot/testkit/run-cli";
import { startHarness, type Harness } from "@probepilot/testkit/control-plane-harness";
import { insertAgents } from "@probepilot/testkit/agent-rows";

/**
 * The `probepilot rollout …` commands against a real control plane. The agents
 * are registry rows (no agent process behind them), so a rollout stays at its
 * first gate: this tests the CLI's plumbing, not the engine.
 */

let h: Harness;
let configHome: string;
beforeAll(async () => {
  h = await startHarness();
  configHome = await mkdtemp(path.join(tmpdir(), "pp-cli-rollout-"));
  const { tenantId } = await h.client().system.whoami.query();
  await insertAgents(
    h.cp.db.db,
    tenantId,
    Array.from({ length: 20 }, (_, i) => ({ hostname: `stg-${i}`, userLabels: { env: i < 16 ? "staging" : "prod" } })),
  );
});
afterAll(async () => {
  await h?.stop();
  await rm(configHome, { recursive: true, force: true });
});

const env = () => ({ XDG_CONFIG_HOME: configHome, PROBEPILOT_URL: h.cp.url, PROBEPILOT_TOKEN: h.adminToken });
const cli = (args: string[]) => captureCli(args, env());

describe("probepilot rollout", () => {
  let id = "";

  it("preview shows the agents per wave and changes nothing", async () => {
    const human = await cli(["rollout", "preview", "tcp_flows", "--selector", "env=staging", "--waves", "25%,100%"]);
    expect(human).toMatchObject({ code: 0, stderr: "" });
    expect(human.stdout).toMatch(/^rollout rol_\w+ \(preview\): tcp_flows v1 spec \w+ on env=staging$/m);
    expect(human.stdout).toMatch(/^16 agents match$/m);
    expect(human.stdout).toMatch(/^ {2}wave 2 +100% +\d+ +16 +100%$/m);
    expect(human.stdout).toMatch(/nothing changed; `probepilot rollout create tcp_flows --selector 'env=staging' --waves 25%,100%` starts it/);

    const json = await cli(["rollout", "preview", "tcp_flows@v1", "--selector", "env=staging", "--json"]);
    const preview = JSON.parse(json.stdout) as RolloutPreview;
    expect(preview).toMatchObject({ matching: 16, blockedBy: null, probe: { name: "tcp_flows", version: 1 } });
    expect(preview.waves.map((w) => w.target)).toEqual(["1%", "10%", "50%", "100%"]);
    expect((await cli(["rollout", "list", "--json"])).stdout.trim()).toBe("[]");
  });

  it("create previews, then creates with the preview's rollout id and the strategy flags", async () => {
    const r = await cli(["rollout", "create", "tcp_flows", "-l", "env=staging", "--waves", "25%,100%", "--bake", "30s", "--gate-timeout", "10m", "--min-healthy", "90%", "--max-failed", "10", "--on-failure", "pause", "--json"]);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    const { preview, rollout } = JSON.parse(r.stdout) as { preview: RolloutPreview; rollout: RolloutView };
    expect(rollout.id).toBe(preview.rolloutId);
    expect(rollout.waves.map((w) => w.planned)).toEqual(preview.waves.map((w) => w.count));
    expect(rollout).toMatchObject({
      state: "running",
      matching: 16,
      strategy: { waves: [{ percent: 25 }, { percent: 100 }], bakeSeconds: 30, gate: { timeoutSeconds: 600, minHealthyPercent: 90, maxFailedPercent: 10 }, onFailure: "pause" },
    });
    id = rollout.id;
  });

  it("a second rollout of the same probe kind is refused after its preview says why", async () => {
    const r = await cli(["rollout", "create", "tcp_flows", "-l", "env=prod"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^blocked: tcp_flows is already being rolled out by rol_/m);
    expect(r.stderr).toBe(`error: not created: tcp_flows is already being rolled out by ${id}; wait for it to end or abort it (\`probepilot rollout abort ${id}\`)\n`);
  });

  it("status shows the state, the strategy and one bar per wave; --json the view; --agents the members", async () => {
    const human = await cli(["rollout", "status", id]);
    expect(human).toMatchObject({ code: 0, stderr: "" });
    expect(human.stdout).toMatch(new RegExp(`^rollout ${id} {2}tcp_flows v1 spec \\w+ {2}on env=staging$`, "m"));
    expect(human.stdout).toMatch(/^state {5}running · wave 1\/2 /m);
    expect(human.stdout).toMatch(/^strategy {2}waves 25% → 100% · bake 30s · gate ≥90% healthy within 10m, ≤10% failed · on failure: pause$/m);
    expect(human.stdout).toMatch(/^agents {4}16 match · /m);
    expect(human.stdout).toMatch(/^ {2}. wave 1 {2}25% {3}[█▓▒╳↺░·]{30} +\d+\/\d+ +\d+%/m);
    expect(human.stdout).toMatch(/^ {4}wave 2 {2}100% {2}·{30} +0\/\d+ +0% +pending \d+$/m);
    expect(human.stdout).not.toMatch(/\x1b\[/);

    const view = JSON.parse((await cli(["rollout", "status", id, "--json"])).stdout) as RolloutView;
    expect(view).toMatchObject({ id, state: "running", currentWave: 0, selector: "env=staging" });

    const withAgents = JSON.parse((await cli(["rollout", "status", id, "--agents", "--wave", "1", "--json"])).stdout) as { rollout: RolloutView; agents: { wave: number; hostname: string }[] };
    expect(withAgents.rollout.id).toBe(id);
    expect(withAgents.agents.every((a) => a.wave === 0 && a.hostname.startsWith("stg-"))).toBe(true);
    const table = await cli(["rollout", "status", id, "--state", "failed"]);
    expect(table.stdout).toMatch(/\nagents \(state failed\)\n\(none\)\n$/);
  });

  it("pause and resume print the new state; history has them with the reason", async () => {
    const paused = await cli(["rollout", "pause", id, "--reason", "checking dashboards"]);
    expect(paused).toMatchObject({ code: 0, stderr: "" });
    expect(paused.stdout).toBe(`${id}  paused at wave 1/2: checking dashboards\n\`probepilot rollout resume ${id}\` goes on, \`probepilot rollout rollback ${id}\` undoes it\n`);
    expect((await cli(["rollout", "list", "--state", "paused"])).stdout).toMatch(new RegExp(`^${id} +tcp_flows v1 +env=staging +paused +1/2 `, "m"));

    const again = await cli(["rollout", "pause", id]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/is paused: pause needs a rollout that is running/);

    const resumed = await cli(["rollout", "resume", id, "--json"]);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ id, state: "running" });
    expect((await cli(["rollout", "list", "--state", "paused"])).stdout).toBe("no paused rollouts\n");

    const history = await cli(["rollout", "history", id]);
    expect(history.stdout).toMatch(/^TIME +ACTOR +ACTION +DETAILS$/m);
    expect(history.stdout).toMatch(/rollout\.pause .*reason="checking dashboards"/);
    expect(history.stdout).toMatch(/rollout\.resume/);
  });

  it("status --watch --json prints a view per line and stops on the signal (exit 0)", async () => {
    const stop = new AbortController();
    let stdout = "";
    const code = await runCli(["rollout", "status", id, "--watch", "--json"], {
      stdout: (s) => {
        stdout += s;
        stop.abort();
      },
      stderr: () => {},
      env: env(),
      signal: stop.signal,
    });
    expect(code).toBe(0);
    expect(JSON.parse(stdout.trim().split("\n")[0]!)).toMatchObject({ id, state: "running" });
  });

  it("abort ends it; status --watch then exits 1 saying how it ended", async () => {
    const aborted = await cli(["rollout", "abort", id, "--reason", "wrong selector"]);
    expect(aborted.stdout).toBe(`${id}  aborted: wrong selector\n`);
    const watch = await cli(["rollout", "status", id, "--watch"]);
    expect(watch.code).toBe(1);
    expect(watch.stdout).toMatch(new RegExp(`^\\S+Z  ${id}  aborted: wrong selector  \\|  `));
    expect(watch.stderr).toBe(`error: rollout ${id} aborted: wrong selector\n`);
  });

  it("usage and lookup errors say what was wrong", async () => {
    expect(await cli(["rollout", "create", "tcp_flows", "-l", "env=staging", "--waves", "50%,10%"])).toMatchObject({ code: 2, stderr: expect.stringMatching(/^--waves "50%,10%": waves must grow: 10% after 50%; for example --waves 1%,10%,50%,100%/) });
    const missing = await cli(["rollout", "status", "rol_0000000000000000000000000z"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^error: /);
    const watchMissing = await cli(["rollout", "status", "rol_0000000000000000000000000z", "--watch"]);
    expect(watchMissing.code).toBe(1);
    expect(watchMissing.stderr).toMatch(/^error: .*rol_0000000000000000000000000z/);
    const probe = await cli(["rollout", "preview", "nope_probe", "-l", "env=staging"]);
    expect(probe.code).toBe(1);
    expect(probe.stderr).toMatch(/nope_probe/);
  });
});
