/**
 * `pnpm bench:rollout` — a staged rollout over a simulated fleet, against the raw
 * KV fan-out it rests on, measured in the same run (see control-plane/bench/README.md).
 *
 * Setup (not timed): its own `nats-server -js`, a fresh database, a real control
 * plane in this process (`startControlPlane`: status consumer, rollout engine),
 * and `probepilot-agent simulate --agents N` as its own process: N real agents
 * (enrollment, policy watch, reconcile, status) with simulated probe runtimes,
 * over shared NATS connections.
 *
 * 1. Raw baseline: N plain KV watchers (another process, same connections count)
 *    on a scratch bucket; one put; the p99 of put → seen.
 * 2. Rollout: `tcp_flows` v2 to every agent, waves 1% → 10% → 50% → 100%, no bake.
 *    Per wave, per agent: the step (the engine starting the wave) → the agent's
 *    `applied` state in Postgres (the status back through JetStream, the status
 *    consumer and the engine: what an operator sees). Wave p99 is the worst wave's p99.
 * 3. Rollback of the completed rollout: the call → every agent confirmed it
 *    dropped the version (the rollout `rolled_back`).
 *
 * Last line: `rollout: <n> agents, wave p99 <a> s, raw fan-out <b> s, ratio <r>, rollback <c> s`.
 *
 * Environment (optional): BENCH_AGENTS (default 10000), BENCH_CONNECTIONS (default
 * agents / 1000), BENCH_KEEP_FLEET_DIR (reuse identities between runs: enrollment of
 * 10,000 agents is most of the setup), DATABASE_URL (server for the throwaway
 * database), PP_TEST_LOG (control-plane log level, default silent),
 * BENCH_FLEET_NODE_ARGS (node flags for the fleet's process, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`),
 * BENCH_TRACE=1 (print every transition of the first two waves and the audit trail).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { createTRPCClient, httpLink } from "@trpc/client";
import { sql } from "drizzle-orm";
import { STATUS_CONSUMER, STATUS_STREAM, type RolloutView } from "@probepilot/shared";
import type { AppRouter } from "../src/trpc/app-router.ts";
import { NkeyPair, formatCreds } from "@probepilot/shared/nkeys";
import { createLogger } from "../src/logger.ts";
import { startHarness } from "@probepilot/testkit/control-plane-harness";
import { simulatorCreds } from "@probepilot/testkit/simulator-creds";
import { AGENT_BIN } from "@probepilot/testkit/bins";
import { teardownStack } from "@probepilot/testkit/teardown";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../..");
const AGENTS = Number(process.env.BENCH_AGENTS ?? 10_000);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? Math.max(1, Math.ceil(AGENTS / 1000)));
const say = (line: string) => process.stderr.write(`[bench:rollout] ${line}\n`);
const p99 = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.ceil(s.length * 0.99) - 1]! : NaN;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, every = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await sleep(every);
  }
}

/** A child process whose stdout lines can be awaited; its stderr is relayed (progress). */
function child(cmd: string, args: string[], env: Record<string, string> = {}) {
  const proc: ChildProcess = spawn(cmd, args, { cwd: repo, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const lines: string[] = [];
  const waiters: (() => void)[] = [];
  readline.createInterface({ input: proc.stdout! }).on("line", (l) => {
    lines.push(l);
    for (const w of waiters.splice(0)) w();
  });
  readline.createInterface({ input: proc.stderr! }).on("line", (l) => process.stderr.write(`  ${l}\n`));
  const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
  return {
    proc,
    exited,
    async line(match: (l: string) => boolean, timeoutMs: number): Promise<string> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = lines.find(match);
        if (found) return found;
        if (proc.exitCode !== null) throw new Error(`${cmd} ${args[0]} exited (${proc.exitCode}) before printing the expected line`);
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${cmd} ${args.join(" ").slice(0, 60)}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 1000);
        });
      }
    },
    async stop() {
      if (proc.exitCode !== null) return;
      proc.kill("SIGTERM");
      await Promise.race([exited, sleep(60_000)]);
      if (proc.exitCode === null) proc.kill("SIGKILL");
    },
  };
}

async function main(): Promise<void> {
  const { cleanups, cleanup } = teardownStack();
  process.once("SIGINT", () => void cleanup().then(() => process.exit(130)));
  try {
    // The control plane as users run it: nats-server in operator mode with TLS, agents enrolling over HTTP.
    const h = await startHarness(
      { PROBEPILOT_INGEST: "off", PROBEPILOT_OFFLINE_AFTER_HEARTBEATS: "10", PROBEPILOT_SWEEP_INTERVAL_MS: "2000" },
      { log: createLogger(process.env.PP_TEST_LOG ?? "silent") },
    );
    cleanups.push({ name: "control plane, nats-server, database", run: () => h.stop() });
    const { cp, nats, dataDir } = h;
    const caArg = nats.caFile ?? "-";
    const api = createTRPCClient<AppRouter>({ links: [httpLink({ url: `${cp.url}/trpc`, headers: () => ({ authorization: `Bearer ${h.adminToken}` }) })] });
    const tenantId = (await api.system.whoami.query()).tenantId;
    const enroll = await api.enrollTokens.create.mutate({ description: "bench:rollout fleet", maxUses: AGENTS });
    // The fleet's NATS user: the tenant's simulator credentials (a test tool; docs/simulator.md).
    const simCredsFile = path.join(dataDir, "simulator.creds");
    const sim = await simulatorCreds(h);
    await writeFile(simCredsFile, formatCreds(sim.jwt, sim.seed), { mode: 0o600 });

    // The fleet: its own process, as agents run on other hosts.
    say(`starting ${AGENTS} simulated agents over ${CONNECTIONS} NATS connections…`);
    const fleetDir = process.env.BENCH_KEEP_FLEET_DIR ?? path.join(dataDir, "fleet");
    const fleet = child(process.execPath, [
      ...(process.env.BENCH_FLEET_NODE_ARGS ? process.env.BENCH_FLEET_NODE_ARGS.split(" ") : []),
      AGENT_BIN,
      "simulate",
      "--agents", String(AGENTS),
      "--connections", String(CONNECTIONS),
      "--labels", "env=prod:90%|staging:10%,region=eu|us|ap",
      "--nats", nats.url,
      ...(nats.caFile ? ["--ca", nats.caFile] : []),
      "--creds", simCredsFile,
      "--control-plane", cp.url,
      "--enroll-token", enroll.token,
      "--data-dir", fleetDir,
      "--heartbeat-sec", "30",
      "--ops-port", "0",
      "--log-level", "warn",
    ]);
    cleanups.push({ name: "simulated fleet", run: () => fleet.stop() });
    const onlineAgents = async () => Number((await cp.db.db.execute<{ n: number }>(sql`select count(*)::int as n from agents where status = 'online'`))[0]!.n);
    let lastSaid = 0;
    await waitFor(`${AGENTS} agents online`, 900_000, async () => {
      const n = await onlineAgents();
      if (Date.now() - lastSaid > 5000) {
        say(`${n}/${AGENTS} agents online`);
        lastSaid = Date.now();
      }
      return n >= AGENTS ? n : undefined;
    }, 1000);
    await sleep(2000); // let the first statuses drain

    // 1. Raw baseline: one put fanned out to as many plain watchers, on the same footing as the
    // agents' policy watches: a bucket in the tenant's account, watched over TLS by a user allowed only that.
    const bucket = "pp_bench_fanout";
    // Written by a user of the tenant's account allowed this bucket only (the control plane's own tenant user may write the policy and config buckets only).
    const writer = await cp.mesh.connectAs({ tenantId }, "bench-fanout-writer", { pub: { allow: ["$JS.API.>", `$KV.${bucket}.>`] }, sub: { allow: ["_INBOX.>"] } });
    cleanups.push({ name: "fan-out writer", run: () => writer.close() });
    const kv = await writer.jetstream().views.kv(bucket, { history: 1 });
    const watcherKey = NkeyPair.create("user");
    const stream = `KV_${bucket}`;
    const watcherUser = await cp.trust.issueUser({
      account: { tenantId },
      name: "bench-fanout-watchers",
      publicKey: watcherKey.getPublicKey(),
      permissions: { pub: { allow: [`$JS.API.CONSUMER.CREATE.${stream}`, `$JS.API.CONSUMER.CREATE.${stream}.>`, `$JS.FC.${stream}.>`] }, sub: { allow: ["_INBOX.>"] } },
      ttlSec: 3600,
    });
    const watcherCreds = path.join(dataDir, "fanout-watchers.creds");
    await writeFile(watcherCreds, formatCreds(watcherUser.jwt, watcherKey.seedText()), { mode: 0o600 });
    const watchers = child(process.execPath, ["--import", "tsx", path.join(here, "kv-fanout-watchers.ts"), nats.url, caArg, watcherCreds, bucket, "probe", String(AGENTS), String(CONNECTIONS)]);
    cleanups.push({ name: "fan-out watchers", run: () => watchers.stop() });
    await watchers.line((l) => l === "ready", 900_000);
    await sleep(1000);
    await kv.put("probe", JSON.stringify({ putAt: Date.now() }));
    const fanout = JSON.parse(await watchers.line((l) => l.startsWith("{"), 120_000)) as { count: number; p50: number; p99: number; max: number };
    await watchers.stop();
    // Its 10,000 consumers go away with it: let the server finish that before the rollout is timed.
    await sleep(3000);
    say(`raw fan-out to ${fanout.count} watchers: p50 ${fanout.p50} ms, p99 ${fanout.p99} ms, max ${fanout.max} ms`);

    // 2. The rollout: 4 waves, no bake.
    const version = await api.probes.createVersion.mutate({ probe: "tcp_flows", params: { minDurationMs: 5 } });
    const created = await api.rollouts.create.mutate({
      probe: "tcp_flows",
      version: version.version,
      selector: "env in (prod,staging)",
      strategy: { waves: [{ percent: 1 }, { percent: 10 }, { percent: 50 }, { percent: 100 }], bakeSeconds: 0, gate: { minHealthyPercent: 95, timeoutSeconds: 120, maxFailedPercent: 5 }, onFailure: "pause" },
    });
    // Backlog of the status stream's consumer during the rollout: what the control plane has not written yet.
    const jsm = await cp.nc.jetstreamManager();
    let maxStatusBacklog = 0;
    const backlogTimer = setInterval(() => {
      void jsm.consumers.info(STATUS_STREAM, STATUS_CONSUMER).then(
        (info) => (maxStatusBacklog = Math.max(maxStatusBacklog, info.num_pending + info.num_ack_pending)),
        () => {},
      );
    }, 250);
    cleanups.push({ name: "backlog sampler", run: async () => clearInterval(backlogTimer) });
    say(`rollout ${created.id}: ${created.matching} agents; waves ${created.waves.map((w) => `${w.target}=${w.planned}`).join(", ")}`);
    const finished = (v: RolloutView) => v.state !== "running";
    let last = "";
    const done = await waitFor("the rollout to finish", 600_000, async () => {
      const v = await api.rollouts.get.query({ id: created.id });
      const line = `wave ${v.currentWave + 1}/${v.waves.length} ${v.phase ?? v.state}: applied ${v.totals.applied + v.totals.verified}/${v.matching}`;
      if (line !== last) say((last = line));
      return finished(v) ? v : undefined;
    }, 500); // the figures come from the transitions' timestamps, not from this poll
    if (done.state !== "completed") throw new Error(`the rollout ended ${done.state}: ${done.stateReason}`);
    // Applied, or verified straight away (with no bake, a wave's gate can pass in the very evaluation that sees an agent running).
    const applied = await cp.db.db.execute<{ wave: number; at_ms: number }>(sql`
      select ra.wave, (extract(epoch from min(t.at)) * 1000)::float8 as at_ms
      from rollout_agent_transitions t join rollout_agents ra on ra.rollout_id = t.rollout_id and ra.agent_id = t.agent_id
      where t.rollout_id = ${created.id} and t.to_state in ('applied', 'verified')
      group by ra.agent_id, ra.wave`);
    if (process.env.BENCH_TRACE) {
      // Every transition of the first two waves' agents, in ms after their wave's step: where the time goes.
      const trace = await cp.db.db.execute<{ agent_id: string; wave: number; to_state: string; at_ms: number }>(sql`
        select t.agent_id, t.wave, t.to_state, (extract(epoch from t.at) * 1000)::float8 as at_ms
        from rollout_agent_transitions t where t.rollout_id = ${created.id} and t.wave <= 1 order by t.id`);
      for (const t of trace) say(`trace wave ${t.wave + 1} ${t.agent_id} ${t.to_state} +${Math.round(Number(t.at_ms) - Date.parse(done.waves[t.wave]!.startedAt!))} ms`);
      const policyWrites = await cp.db.db.execute<{ action: string; at_ms: number; details: unknown }>(sql`
        select action, (extract(epoch from at) * 1000)::float8 as at_ms, details from audit_log where target = ${created.id} order by id`);
      for (const a of policyWrites) say(`trace audit ${a.action} at ${new Date(Number(a.at_ms)).toISOString()} ${JSON.stringify(a.details).slice(0, 80)}`);
    }
    const perWave = done.waves.map((w) => {
      const started = Date.parse(w.startedAt!);
      const lat = applied.filter((a) => a.wave === w.index).map((a) => Number(a.at_ms) - started);
      return { wave: w.index, agents: lat.length, p99: p99(lat) };
    });
    say(`status stream backlog during the rollout: at most ${maxStatusBacklog} messages not yet written to Postgres`);
    const batches = (await cp.metrics.statusBatchSeconds.get()).values;
    const count = batches.find((v) => v.metricName === "probepilot_status_batch_seconds_count")?.value ?? 0;
    const sum = batches.find((v) => v.metricName === "probepilot_status_batch_seconds_sum")?.value ?? 0;
    const written = (await cp.metrics.statusMessages.get()).values.find((v) => v.labels.outcome === "applied")?.value ?? 0;
    say(`status writes over the whole run: ${written} messages in ${count} batches, ${((1000 * sum) / Math.max(1, count)).toFixed(1)} ms per batch on average, ${Math.round(written / Math.max(sum, 1e-9))} messages per second of writing`);
    for (const w of perWave) say(`wave ${w.wave + 1}: ${w.agents} agents, p99 ${Math.round(w.p99)} ms from the step to applied in Postgres`);
    const waveP99 = Math.max(...perWave.map((w) => w.p99));

    // 3. Rollback of the whole fleet.
    const rollbackAt = Date.now();
    await api.rollouts.rollback.mutate({ id: created.id, reason: "bench" });
    const rolledBack = await waitFor("the rollback to reach every agent", 300_000, async () => {
      const v = await api.rollouts.get.query({ id: created.id });
      return v.state === "rolled_back" ? v : undefined;
    }, 50);
    const rollbackMs = Date.parse(rolledBack.completedAt!) - rollbackAt;
    if (rolledBack.totals.rolled_back !== AGENTS) say(`warning: ${rolledBack.totals.rolled_back} of ${AGENTS} agents confirmed the rollback: ${rolledBack.stateReason}`);

    const s = (ms: number) => (ms / 1000).toFixed(2);
    process.stdout.write(
      `rollout: ${AGENTS} agents, wave p99 ${s(waveP99)} s, raw fan-out ${s(fanout.p99)} s, ratio ${(waveP99 / fanout.p99).toFixed(2)}, rollback ${s(rollbackMs)} s\n`,
    );
  } finally {
    await cleanup();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`bench:rollout failed: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);
