import type { Db } from "../db/client.ts";
import type { Logger } from "../logger.ts";
import type { ControlPlaneMetrics } from "../metrics.ts";
import { markSilentAgentsOffline } from "../services/agents/mark-silent-agents-offline.ts";

/**
 * Marks agents that missed their heartbeats offline, every `intervalMs`. Each sweep
 * is scheduled after the previous one finished, so a slow database never stacks
 * sweeps up. Returns a stop function that waits for the sweep in flight.
 */
export function startOfflineSweeper(db: Db, log: Logger, metrics: ControlPlaneMetrics, opts: { intervalMs: number; missedHeartbeats: number }): () => Promise<void> {
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let inFlight: Promise<void> = Promise.resolve();
  const sweep = async () => {
    try {
      const changed = await markSilentAgentsOffline(db, opts.missedHeartbeats);
      for (const a of changed) log.info({ agentId: a.id, tenantId: a.tenantId }, "agent missed its heartbeats: marked offline");
      metrics.agentsMarkedOffline.inc(changed.length);
    } catch (err) {
      log.error({ err }, "offline sweep failed");
    }
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      inFlight = sweep().then(schedule);
    }, opts.intervalMs);
  };
  schedule();
  return async () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    await inFlight;
  };
}
