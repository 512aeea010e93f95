import { inArray, sql } from "drizzle-orm";
import type { NatsConnection } from "nats";
import type postgres from "postgres";
import { ACTIVE_ROLLOUT_STATES } from "@probepilot/shared";
import type { DbHandle } from "../../../db/client.ts";
import { rollouts, type RolloutRow } from "../../../db/schema.ts";
import type { Logger } from "../../../logger.ts";
import type { ControlPlaneMetrics } from "../../../metrics.ts";
import { notifyRolloutChanged, type RolloutSignals } from "../rollout-signals.ts";
import { evaluateRollout, rowOf, type AgentObservation, type AgentRow } from "./evaluate-rollout.ts";
import { PolicySync } from "./policy-sync.ts";
import { loadAgentRows, loadObservations, toMachine, writeEvaluation } from "./rollout-store.ts";

/** Agents' reports are read in full this often; in between, only the ones written since the last read. */
const FULL_READ_EVERY_MS = 5000;
/** How far back an incremental read reaches before the previous one (status batches in flight then). */
const READ_OVERLAP_MS = 2000;

/** What the engine keeps of one active rollout between passes. */
type TrackedRollout = {
  /** Its agent rows as last written (the engine is their only writer while it leads). */
  rows: Map<string, AgentRow>;
  /** What its agents report, as of `readAt` (database clock). */
  observations: Map<string, AgentObservation>;
  readAt: Date | null;
  fullReadAt: number;
  evaluatedAt: number;
};

/** One engine drives every rollout at a time: the holder of this advisory lock. */
const LEADER_LOCK = "probepilot:rollout-engine";

export type RolloutEngineOptions = {
  db: DbHandle;
  /** The control plane's connection to a tenant's account (its policy bucket). */
  tenantNats: (tenantId: string) => Promise<NatsConnection>;
  signals: RolloutSignals;
  log: Logger;
  metrics: ControlPlaneMetrics;
  /** How often deadlines (gate timeouts, bake ends) are checked; default 250 ms. */
  tickMs?: number;
  /** Least time between two evaluations of one rollout prompted by status reports; default 100 ms. */
  minEvaluationGapMs?: number;
  /** How often a follower tries to become the leader; default 2 s. */
  leaderRetryMs?: number;
};

/**
 * Drives rollouts (the state machine in evaluate-rollout.ts) from Postgres: on
 * every status batch (NOTIFY from whichever control plane wrote it), on every
 * operator action, and on a ticker for gate timeouts and bake ends. Its state
 * lives in Postgres only, so a control plane killed mid-rollout loses nothing: the
 * next leader (or the same one restarted) reads the rollouts and carries on.
 *
 * Several control planes may run: the one holding a session advisory lock drives;
 * the others retry every few seconds and take over when its connection dies.
 */
export class RolloutEngine {
  private lockConn: postgres.ReservedSql | null = null;
  /** The backend that holds the leader lock. */
  private lockPid: number | null = null;
  private leader = false;
  private stopped = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  /** What the engine keeps per active rollout between passes (dropped when it resigns or the rollout ends). */
  private readonly tracked = new Map<string, TrackedRollout>();
  /** Rollouts to evaluate at the next pass: all active ones after a status batch, or the one an action named. */
  private statusDirty = true;
  private readonly named = new Set<string>();
  private readonly policySync: PolicySync;
  private unsubscribe: (() => void)[] = [];
  private readonly tickMs: number;
  private readonly minGapMs: number;
  private readonly leaderRetryMs: number;

  constructor(private readonly opts: RolloutEngineOptions) {
    this.policySync = new PolicySync(opts.db.db, opts.tenantNats, opts.log);
    this.tickMs = opts.tickMs ?? 250;
    this.minGapMs = opts.minEvaluationGapMs ?? 100;
    this.leaderRetryMs = opts.leaderRetryMs ?? 2000;
  }

  get leading(): boolean {
    return this.leader;
  }

  start(): void {
    this.unsubscribe = [
      this.opts.signals.onAgentStatus(() => {
        this.statusDirty = true;
        this.wake?.();
      }),
      this.opts.signals.onRolloutChanged((id) => {
        this.named.add(id);
        this.wake?.();
      }),
    ];
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const u of this.unsubscribe) u();
    this.wake?.();
    await this.loop;
    await this.resign();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      if (!this.leader) {
        if (!(await this.tryLead())) {
          await this.sleep(this.leaderRetryMs);
          continue;
        }
      }
      const started = performance.now();
      try {
        await this.checkLock();
        if (!this.leader) continue;
        await this.pass();
        await this.checkLock();
      } catch (err) {
        this.opts.log.error({ err }, "rollout engine pass failed");
        await this.checkLock();
      }
      this.opts.metrics.rolloutEnginePassSeconds.observe((performance.now() - started) / 1000);
      await this.sleep(this.tickMs);
    }
  }

  /**
   * Wait for a signal (a status batch, an action) or `ms`. Passes are at least
   * `minGapMs` apart, so a storm of status batches costs a few evaluations a
   * second, not one per batch.
   */
  private async sleep(ms: number): Promise<void> {
    await new Promise((r) => setTimeout(r, Math.min(ms, this.minGapMs)));
    if (this.stopped || this.statusDirty || this.named.size > 0 || ms <= this.minGapMs) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms - this.minGapMs);
      const wake = () => done();
      this.wake = wake;
      function done() {
        clearTimeout(timer);
        resolve();
      }
    });
    this.wake = null;
  }

  private async tryLead(): Promise<boolean> {
    try {
      this.lockConn ??= await this.opts.db.sql.reserve();
      const [row] = await this.lockConn<{ locked: boolean; pid: number }[]>`select pg_try_advisory_lock(hashtext(${LEADER_LOCK})) as locked, pg_backend_pid() as pid`;
      if (!row?.locked) return false;
      this.lockPid = row.pid;
      this.leader = true;
      this.statusDirty = true;
      this.tracked.clear();
      this.opts.metrics.rolloutEngineLeader.set(1);
      this.opts.log.info("rollout engine: leading (driving every rollout)");
      return true;
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message }, "rollout engine: could not try the leader lock");
      await this.resign();
      return false;
    }
  }

  /** The lock lives as long as its connection: if that is gone, so is the leadership. */
  private async checkLock(): Promise<void> {
    if (!this.leader || !this.lockConn) return;
    try {
      // Same backend as the one that took the lock: postgres.js may hand a reserved handle
      // whose connection died a fresh connection, on which `select 1` would still succeed.
      const [row] = await this.lockConn<{ pid: number }[]>`select pg_backend_pid() as pid`;
      if (row?.pid !== this.lockPid) throw new Error(`the lock's session ${this.lockPid} is gone (now on ${row?.pid})`);
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message }, "rollout engine: lost the leader lock's connection; following");
      await this.resign();
    }
  }

  private async resign(): Promise<void> {
    if (this.lockConn) {
      const conn = this.lockConn;
      this.lockConn = null;
      if (this.leader) await conn`select pg_advisory_unlock(hashtext(${LEADER_LOCK}))`.catch(() => {});
      conn.release();
    }
    if (this.leader) this.opts.metrics.rolloutEngineLeader.set(0);
    this.leader = false;
    this.tracked.clear();
  }

  /** One pass: write the policies whose stage moved, evaluate the rollouts that need it, write again. */
  private async pass(): Promise<void> {
    const now = Date.now();
    const statusDirty = this.statusDirty;
    this.statusDirty = false;
    const named = new Set(this.named);
    this.named.clear();
    // Policies first: a create or a rollback an operator just made reaches the agents before
    // this pass spends its time evaluating (hundreds of milliseconds at 10,000 agents).
    await this.syncPolicies();
    const active = await this.opts.db.db.select().from(rollouts).where(inArray(rollouts.state, [...ACTIVE_ROLLOUT_STATES]));
    let stageMoved = false;
    for (const row of active) {
      // The deadline that matters in the rollout's phase (a baking rollout's gate deadline has passed long ago).
      const deadline = row.state === "paused" ? null : row.phase === "bake" ? row.bakeEndsAt : row.gateDeadline;
      const due = deadline !== null && deadline.getTime() <= now;
      const stale = now - (this.tracked.get(row.id)?.evaluatedAt ?? 0) > 5000;
      if (!(statusDirty || named.has(row.id) || due || stale)) continue;
      // One rollout that cannot be evaluated (say, a query failing on its data) must not hold up the others.
      const moved = await this.evaluate(row).catch((err) => {
        this.opts.metrics.rolloutEvaluationErrors.inc();
        this.opts.log.error({ err, rollout: row.id }, "rollout evaluation failed; retrying at the next pass");
        return false;
      });
      stageMoved ||= moved;
    }
    const activeIds = new Set(active.map((r) => r.id));
    for (const id of this.tracked.keys()) if (!activeIds.has(id)) this.tracked.delete(id);
    // A wave this pass started (or a rollback it decided) reaches the agents now, not a tick later.
    if (stageMoved) await this.syncPolicies();
  }

  private async syncPolicies(): Promise<void> {
    for (const written of await this.policySync.sync()) {
      this.opts.metrics.rolloutPolicyWrites.inc({ outcome: written.present ? "put" : "delete" });
      await notifyRolloutChanged(this.opts.db.db, written.rolloutId);
    }
  }

  /**
   * What the rollout's agents report. Re-reading 10,000 agents on every status
   * batch would make each evaluation cost hundreds of milliseconds: between full
   * reads (every few seconds, which also catch what changes without a status,
   * such as an agent marked offline), only the agents whose status was written
   * since the last read are read, with an overlap for batches whose transaction
   * began before that read and committed after it.
   */
  private async observe(row: RolloutRow, t: TrackedRollout): Promise<Map<string, AgentObservation>> {
    const { db } = this.opts.db;
    const [clock] = await db.execute<{ now: string | Date }>(sql`select clock_timestamp() as now`);
    const readAt = new Date(clock!.now);
    if (!t.readAt || Date.now() - t.fullReadAt > FULL_READ_EVERY_MS) {
      t.observations = await loadObservations(db, row);
      t.fullReadAt = Date.now();
    } else {
      for (const [id, o] of await loadObservations(db, row, new Date(t.readAt.getTime() - READ_OVERLAP_MS))) t.observations.set(id, o);
    }
    t.readAt = readAt;
    return t.observations;
  }

  /** Evaluate one rollout and write what moved; returns whether its policy must be rewritten. */
  private async evaluate(row: RolloutRow): Promise<boolean> {
    const { db } = this.opts.db;
    const t0 = performance.now();
    let t = this.tracked.get(row.id);
    if (!t) this.tracked.set(row.id, (t = { rows: await loadAgentRows(db, row.id), observations: new Map(), readAt: null, fullReadAt: 0, evaluatedAt: 0 }));
    t.evaluatedAt = Date.now();
    const rows = t.rows;
    const observations = await this.observe(row, t);
    const t1 = performance.now();
    const evaluation = evaluateRollout(toMachine(row), observations, rows, Date.now());
    const t2 = performance.now();
    if (!evaluation.changed && !evaluation.stageChanged && evaluation.rows.length === 0) return false;
    const written = await writeEvaluation(db, row, evaluation);
    this.opts.log.debug(
      { rollout: row.id, agents: observations.size, changes: evaluation.rows.length, loadMs: Math.round(t1 - t0), evaluateMs: Math.round(t2 - t1), writeMs: Math.round(performance.now() - t2) },
      "rollout evaluated",
    );
    if (!written) {
      // An operator acted in between: evaluate again from what they wrote.
      this.named.add(row.id);
      return false;
    }
    for (const c of evaluation.rows) rows.set(c.agentId, rowOf(c));
    for (const e of evaluation.events) this.opts.log.info({ rollout: row.id, action: e.action, ...e.details }, "rollout transition");
    this.opts.metrics.rolloutAgentTransitions.inc(evaluation.rows.length);
    if (!evaluation.stageChanged) await notifyRolloutChanged(db, row.id); // otherwise the policy write notifies
    return evaluation.stageChanged;
  }
}
