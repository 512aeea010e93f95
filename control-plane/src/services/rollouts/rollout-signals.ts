import type postgres from "postgres";
import { sql } from "drizzle-orm";
import type { DbOrTx } from "../../db/client.ts";

/** Postgres NOTIFY channels: how control planes tell each other that something moved. */
const ROLLOUT_CHANNEL = "pp_rollouts";
const AGENT_STATUS_CHANNEL = "pp_agent_status";

/** A rollout changed (an operator's action, an engine step): payload is its id. */
export async function notifyRolloutChanged(db: DbOrTx, rolloutId: string): Promise<void> {
  await db.execute(sql`select pg_notify(${ROLLOUT_CHANNEL}, ${rolloutId})`);
}

/** Agent statuses were written (the status consumer, after each batch). */
export async function notifyAgentStatus(db: DbOrTx): Promise<void> {
  await db.execute(sql`select pg_notify(${AGENT_STATUS_CHANNEL}, '')`);
}

/**
 * This process's ears on those channels (one LISTEN connection, shared): the
 * rollout engine wakes on both, `rollouts.watch` subscriptions on rollout changes.
 * Any control plane may write status batches or take an operator's action, and
 * only one drives the rollouts, so the signal has to cross processes: NOTIFY does.
 */
export class RolloutSignals {
  private readonly rolloutListeners = new Set<(rolloutId: string) => void>();
  private readonly statusListeners = new Set<() => void>();
  private unlisten: (() => Promise<void>)[] = [];

  static async listen(pg: postgres.Sql): Promise<RolloutSignals> {
    const signals = new RolloutSignals();
    const a = await pg.listen(ROLLOUT_CHANNEL, (id) => signals.rolloutChanged(id));
    const b = await pg.listen(AGENT_STATUS_CHANNEL, () => signals.agentStatus());
    signals.unlisten = [a.unlisten, b.unlisten];
    return signals;
  }

  /** Also called directly by this process's own writers: no round trip to hear itself. */
  rolloutChanged(rolloutId: string): void {
    for (const fn of this.rolloutListeners) fn(rolloutId);
  }

  agentStatus(): void {
    for (const fn of this.statusListeners) fn();
  }

  onRolloutChanged(fn: (rolloutId: string) => void): () => void {
    this.rolloutListeners.add(fn);
    return () => this.rolloutListeners.delete(fn);
  }

  onAgentStatus(fn: () => void): () => void {
    this.statusListeners.add(fn);
    return () => this.statusListeners.delete(fn);
  }

  async close(): Promise<void> {
    await Promise.all(this.unlisten.map((u) => u().catch(() => {})));
    this.rolloutListeners.clear();
    this.statusListeners.clear();
  }
}
