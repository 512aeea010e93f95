import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import readline from "node:readline";
import { startHarness, type Harness } from "@probepilot/testkit/control-plane-harness";
import { startTestFleet, transitionsOf, waitForRollout, type TestFleet } from "@probepilot/testkit/rollout-fleet";
import { eventually, sleep } from "@probepilot/testkit/poll";
import { RolloutEngine } from "../../../../src/services/rollouts/engine/rollout-engine.ts";
import { createLogger } from "../../../../src/logger.ts";
import { CONTROL_PLANE_BIN } from "@probepilot/testkit/bins";

/**
 * The rollout engine's state is in Postgres and one control plane drives at a
 * time (an advisory lock): a control plane killed with SIGKILL mid-rollout is
 * replaced by another, which carries the rollout on from where it was.
 */
let h: Harness;
let fleet: TestFleet;
let dataDir: string;
const children: ChildProcess[] = [];

/** A control plane in its own process on the harness's database and NATS; resolves once its engine leads. */
async function startLeadingControlPlane(): Promise<ChildProcess> {
  const proc = spawn(process.execPath, [CONTROL_PLANE_BIN], {
    env: {
      ...process.env,
      DATABASE_URL: h.database.url,
      NATS_URL: h.nats.url,
      PROBEPILOT_NATS_CA: h.nats.caFile,
      // The same secret key: it opens the NATS signing keys the first control plane sealed.
      PROBEPILOT_SECRET_KEY: h.secretKey,
      PROBEPILOT_PORT: "0",
      PROBEPILOT_DATA_DIR: dataDir,
      PROBEPILOT_INGEST: "off",
      PROBEPILOT_LOG_LEVEL: "info",
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(proc);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the child control plane did not start leading within 30 s")), 30_000);
    proc.once("exit", (code) => reject(new Error(`the child control plane exited (${code})`)));
    readline.createInterface({ input: proc.stdout! }).on("line", (line) => {
      if (line.includes("rollout engine: leading")) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return proc;
}

beforeAll(async () => {
  h = await startHarness();
  dataDir = await mkdtemp(path.join(tmpdir(), "pp-cp-child-"));
  // The harness's own engine steps down: the child control planes drive.
  await h.cp.rolloutEngine.stop();
  fleet = await startTestFleet(h, { agents: 120, labels: "env=prod" });
}, 120_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  await fleet?.stop();
  await h?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe("a control plane killed mid-rollout", () => {
  it("is replaced by another, which resumes the rollout where it was; only one drives at a time", { timeout: 120_000 }, async () => {
    const first = await startLeadingControlPlane();
    // A second engine in this process, started while the child leads: it must wait its turn.
    const standby = new RolloutEngine({ db: h.cp.db, tenantNats: (t) => h.cp.mesh.tenant(t), signals: h.cp.rolloutSignals, log: createLogger("silent"), metrics: h.cp.metrics, leaderRetryMs: 500 });
    standby.start();
    try {
      const api = h.client();
      const created = await api.rollouts.create.mutate({
        probe: "tcp_retransmits",
        selector: "env=prod",
        strategy: { waves: [{ percent: 10 }, { percent: 40 }, { percent: 100 }], bakeSeconds: 3, gate: { timeoutSeconds: 60, minHealthyPercent: 100, maxFailedPercent: 0 } },
      });
      await waitForRollout(h, created.id, (v) => v.currentWave === 1 && v.phase === "bake", 30_000);
      expect(standby.leading).toBe(false);

      first.kill("SIGKILL");
      await new Promise((r) => first.once("exit", r));
      // The standby takes over (Postgres releases a dead session's lock) and carries on.
      await eventually(() => expect(standby.leading).toBe(true), { timeoutMs: 15_000 });
      const done = await waitForRollout(h, created.id, (v) => v.state !== "running", 60_000);
      expect(done.state).toBe("completed");
      expect(done.totals.verified).toBe(120);

      // Exactly one start per wave and one completion: nothing was redone or skipped.
      const actions = (await api.rollouts.history.query({ id: created.id })).map((e) => e.action);
      expect(actions.filter((a) => a === "rollout.wave_started")).toHaveLength(2);
      expect(actions.filter((a) => a === "rollout.wave_completed")).toHaveLength(3);
      expect(actions.filter((a) => a === "rollout.completed")).toHaveLength(1);
      const history = await transitionsOf(h, created.id);
      expect(history.size).toBe(120);
      for (const [, a] of history) expect(a.states.at(-1)).toBe("verified");
    } finally {
      await standby.stop();
    }
  });

  it("a second control plane does not drive while the first one leads", { timeout: 60_000 }, async () => {
    const leader = await startLeadingControlPlane();
    const other = new RolloutEngine({ db: h.cp.db, tenantNats: (t) => h.cp.mesh.tenant(t), signals: h.cp.rolloutSignals, log: createLogger("silent"), metrics: h.cp.metrics, leaderRetryMs: 200 });
    other.start();
    try {
      await sleep(1500);
      expect(other.leading).toBe(false);
    } finally {
      await other.stop();
      leader.kill("SIGTERM");
      await new Promise((r) => leader.once("exit", r));
    }
  });
});
