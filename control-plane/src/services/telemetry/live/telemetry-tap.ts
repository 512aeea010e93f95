import type { NatsConnection, Subscription } from "nats";
import { TELEMETRY_SUBJECT_PREFIX, validateTelemetryBatch, type TelemetryBatch } from "@probepilot/shared";

type Listener = (batch: TelemetryBatch) => void;

const decoder = new TextDecoder();

/**
 * Live telemetry for viewers, from core NATS (no Postgres polling): one
 * subscription per tenant (`pp.tm.<tenant>.>`), shared by every viewer of that
 * tenant and dropped with the last one. Each message is decoded and validated
 * once, then handed to every listener. Core subscriptions see JetStream
 * publishes too: the stream captures the same subjects.
 */
export class TelemetryTap {
  private readonly tenants = new Map<string, { sub: Subscription; listeners: Set<Listener> }>();

  constructor(
    private readonly nc: NatsConnection,
    /** Points older than this are not live data (a replayed spool); they reach viewers through the backfill. */
    private readonly maxAgeMs = 10 * 60_000,
  ) {}

  /** Listen to a tenant's telemetry; returns the function that stops listening. */
  listen(tenantId: string, listener: Listener): () => void {
    let entry = this.tenants.get(tenantId);
    if (!entry) {
      const listeners = new Set<Listener>();
      const sub = this.nc.subscribe(`${TELEMETRY_SUBJECT_PREFIX}.${tenantId}.>`, {
        callback: (err, msg) => {
          if (err) return;
          let raw: unknown;
          try {
            raw = JSON.parse(decoder.decode(msg.data));
          } catch {
            return; // the ingester dead-letters it; viewers just skip it
          }
          const verdict = validateTelemetryBatch(raw, { nowMs: Date.now(), maxAgeMs: this.maxAgeMs, maxAheadMs: 10 * 60_000 });
          if (!verdict.ok || verdict.batch.tenantId !== tenantId || msg.subject !== `${TELEMETRY_SUBJECT_PREFIX}.${tenantId}.${verdict.batch.agentId}.${verdict.batch.probe}`) return;
          for (const l of listeners) l(verdict.batch);
        },
      });
      entry = { sub, listeners };
      this.tenants.set(tenantId, entry);
    }
    entry.listeners.add(listener);
    return () => {
      const e = this.tenants.get(tenantId);
      if (!e) return;
      e.listeners.delete(listener);
      if (e.listeners.size === 0) {
        e.sub.unsubscribe();
        this.tenants.delete(tenantId);
      }
    };
  }

  /** Tenants with a live subscription (for tests and metrics). */
  get activeTenants(): number {
    return this.tenants.size;
  }
}
