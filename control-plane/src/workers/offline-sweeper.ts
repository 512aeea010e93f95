import type { Db } from "../db/client.ts";
import type { Logger } from "../logger.ts";
import type { ControlPlaneMetrics } from "../metrics.ts";
import { markSilentAgentsOffline } from "../services/agents/mark-silent-agents-offline.ts";

/** Periodically marks agents that missed their heartbeats offline. Returns a stop function. */
export function startOfflineSweeper(db: Db, log: Logger, metrics: ControlPlaneMetrics, opts: { intervalMs: number; missedHeartbeats: number }): () => Promise<void> {
  let inFlight: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    inFlight = markSilentAgentsOffline(db, opts.missedHeartbeats).then(
      (changed) => {
        for (const a of changed) log.info({ agentId: a.id, tenantId: a.tenantId }, "agent missed its heartbeats: marked offline");
        metrics.agentsMarkedOffline.inc(changed.length);
      },
      (err) => log.error({ err }, "offline sweep failed"),
    );
  }, opts.intervalMs);
  return async () => {
    clearInterval(timer);
    await inFlight;
  };
}
