import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";

/** The agent's own Prometheus metrics (served on /metrics). */
export function createAgentMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "probepilot_agent_" });
  return {
    registry,
    telemetryBatches: new Counter({
      name: "probepilot_agent_telemetry_batches_total",
      help: "Telemetry batches, by probe and outcome (published directly, spooled to disk, replayed from the spool, dropped, oversize)",
      labelNames: ["probe", "outcome"] as const,
      registers: [registry],
    }),
    telemetryBytes: new Counter({ name: "probepilot_agent_telemetry_bytes_total", help: "Encoded telemetry bytes published (directly or replayed)", labelNames: ["probe"] as const, registers: [registry] }),
    spoolBatches: new Gauge({ name: "probepilot_agent_spool_batches", help: "Telemetry batches in the disk spool waiting to be replayed", registers: [registry] }),
    spoolBytes: new Gauge({ name: "probepilot_agent_spool_bytes", help: "Bytes of telemetry in the disk spool waiting to be replayed", registers: [registry] }),
    spoolDroppedBatches: new Counter({ name: "probepilot_agent_spool_dropped_batches_total", help: "Telemetry batches lost: oldest spool segments deleted past the bound, failed appends, corrupt spool data, batches the server refused for good", registers: [registry] }),
    spoolDroppedBytes: new Counter({ name: "probepilot_agent_spool_dropped_bytes_total", help: "Bytes of the telemetry batches counted in probepilot_agent_spool_dropped_batches_total", registers: [registry] }),
    spoolReplayedBatches: new Counter({ name: "probepilot_agent_spool_replayed_batches_total", help: "Telemetry batches published from the disk spool", registers: [registry] }),
    statusMessages: new Counter({ name: "probepilot_agent_status_messages_total", help: "Status messages, by type and outcome", labelNames: ["type", "outcome"] as const, registers: [registry] }),
    probeRestarts: new Counter({ name: "probepilot_agent_probe_restarts_total", help: "Probe restarts after a failure", labelNames: ["probe"] as const, registers: [registry] }),
    probeErrors: new Counter({ name: "probepilot_agent_probe_errors_total", help: "Non-fatal probe errors (for example one unreadable procfs file)", labelNames: ["probe"] as const, registers: [registry] }),
    reconciles: new Counter({ name: "probepilot_agent_reconciles_total", help: "Reconcile passes", registers: [registry] }),
    natsConnected: new Gauge({ name: "probepilot_agent_nats_connected", help: "1 while the NATS connection is up", registers: [registry] }),
  };
}
export type AgentMetrics = ReturnType<typeof createAgentMetrics>;
