import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { sql } from "drizzle-orm";
import type { RolloutView } from "@probepilot/shared";
import { startSimulatedFleet, type SimulatedFleet, type SimulatedFleetOptions } from "@probepilot/agent/simulate/fleet";
import { parseFailSpec, parseLabelsSpec, parseUnsupportedSpec } from "@probepilot/agent/simulate/fleet-spec";
import { createAgentLogger } from "@probepilot/agent/logger";
import type { Harness } from "./control-plane-harness.ts";
import { eventually } from "./poll.ts";
import { simulatorCreds } from "./simulator-creds.ts";

export type TestFleet = { fleet: SimulatedFleet; stop: () => Promise<void> };

/**
 * A simulated fleet (the real agent code, simulated hosts and probe runtimes)
 * enrolled with the harness's control plane; resolves once every agent is online in Postgres.
 */
export async function startTestFleet(
  h: Harness,
  opts: { agents: number; labels: string; fail?: string; unsupported?: string; namePrefix?: string; connections?: number } & Partial<Pick<SimulatedFleetOptions, "heartbeatSec">>,
): Promise<TestFleet> {
  const dataDir = await mkdtemp(path.join(tmpdir(), "pp-fleet-"));
  const { token } = await h.client().enrollTokens.create.mutate({ description: "test fleet" });
  const fleet = await startSimulatedFleet({
    natsUrl: h.nats.url,
    ...(h.nats.caFile ? { natsCaFile: h.nats.caFile } : {}),
    simulatorCreds: await simulatorCreds(h),
    controlPlane: { url: h.cp.url },
    agents: opts.agents,
    connections: opts.connections ?? 2,
    enrollToken: token,
    dataDir,
    namePrefix: opts.namePrefix ?? "t",
    labels: parseLabelsSpec(opts.labels),
    probes: { fail: parseFailSpec(opts.fail ?? ""), unsupported: parseUnsupportedSpec(opts.unsupported ?? ""), startDelayMs: { min: 5, max: 40 } },
    heartbeatSec: opts.heartbeatSec ?? 5,
    log: createAgentLogger(process.env.PP_TEST_LOG ?? "silent"),
  });
  await fleet.ready;
  const prefix = `sim-${opts.namePrefix ?? "t"}-%`;
  await eventually(
    async () => {
      const [row] = await h.cp.db.db.execute<{ n: number }>(sql`select count(*)::int as n from agents where status = 'online' and hostname like ${prefix}`);
      if (row!.n !== opts.agents) throw new Error(`${row!.n} of ${opts.agents} simulated agents online`);
    },
    { timeoutMs: 60_000, intervalMs: 200 },
  );
  return {
    fleet,
    stop: async () => {
      await fleet.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Poll a rollout until `done` holds for it (or fail with its last state after `timeoutMs`). */
export async function waitForRollout(h: Harness, id: string, done: (v: RolloutView) => boolean, timeoutMs = 60_000): Promise<RolloutView> {
  let last: RolloutView | undefined;
  return eventually(
    async () => {
      last = await h.client().rollouts.get.query({ id });
      if (!done(last)) throw new Error(`rollout ${id} is ${last.state} (wave ${last.currentWave + 1}, ${last.phase}): ${JSON.stringify(last.totals)} ${last.stateReason ?? ""}`);
      return last;
    },
    { timeoutMs, intervalMs: 100 },
  );
}

/** Every state each agent went through in a rollout (the status history), by agent. */
export async function transitionsOf(h: Harness, rolloutId: string): Promise<Map<string, { wave: number; states: string[] }>> {
  const rows = await h.cp.db.db.execute<{ agent_id: string; wave: number; to_state: string }>(
    sql`select agent_id, wave, to_state from rollout_agent_transitions where rollout_id = ${rolloutId} order by id`,
  );
  const out = new Map<string, { wave: number; states: string[] }>();
  for (const r of rows) {
    const entry = out.get(r.agent_id) ?? { wave: r.wave, states: [] };
    entry.states.push(r.to_state);
    out.set(r.agent_id, entry);
  }
  return out;
}
