import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import type { ProbeCost } from "@probepilot/shared";

/** The agent's own Prometheus metrics (served on /metrics). */
export function createAgentMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "probepilot_agent_" });
  const probe = ["probe"] as const;
  const cost = {
    kernelSeconds: new Gauge({ name: "probepilot_agent_probe_kernel_seconds", help: "Run time of each eBPF probe's BPF programs since it was loaded (BPF run-time statistics)", labelNames: probe, registers: [registry] }),
    kernelRuns: new Gauge({ name: "probepilot_agent_probe_kernel_runs", help: "Times each eBPF probe's BPF programs ran since it was loaded", labelNames: probe, registers: [registry] }),
    kernelCpu: new Gauge({ name: "probepilot_agent_probe_kernel_cpu_percent", help: "CPU each eBPF probe's BPF programs took over its last interval, in % of one core", labelNames: probe, registers: [registry] }),
    loaderCpu: new Gauge({ name: "probepilot_agent_probe_loader_cpu_percent", help: "CPU each eBPF probe's ppbpf loader used over its last interval, in % of one core", labelNames: probe, registers: [registry] }),
    loaderRss: new Gauge({ name: "probepilot_agent_probe_loader_rss_bytes", help: "Resident memory of each eBPF probe's ppbpf loader", labelNames: probe, registers: [registry] }),
  };
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
    /** Publish one eBPF probe's latest cost measurement, or (null) forget it when the probe stops. */
    recordProbeCost(kind: string, measured: ProbeCost | null): void {
      if (!measured) {
        for (const gauge of Object.values(cost)) gauge.remove({ probe: kind });
        return;
      }
      cost.kernelSeconds.set({ probe: kind }, measured.kernelTimeNs / 1e9);
      cost.kernelRuns.set({ probe: kind }, measured.kernelRunCount);
      cost.kernelCpu.set({ probe: kind }, measured.kernelCpuPercent);
      cost.loaderCpu.set({ probe: kind }, measured.loaderCpuPercent);
      cost.loaderRss.set({ probe: kind }, measured.loaderRssBytes);
    },
  };
}
export type AgentMetrics = ReturnType<typeof createAgentMetrics>;
