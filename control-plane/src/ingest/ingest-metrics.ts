import { Counter, Gauge, Histogram, type Registry } from "prom-client";

/** Ingest metrics, registered on the process's registry (control plane or standalone ingester). */
export function createIngestMetrics(registry: Registry, deadLetters: Counter<"source" | "reason">) {
  return {
    batches: new Counter({ name: "probepilot_ingest_batches_total", help: "Telemetry batches, by outcome (stored, duplicate, dead_letter)", labelNames: ["outcome"] as const, registers: [registry] }),
    samples: new Counter({ name: "probepilot_ingest_samples_total", help: "Samples committed to Postgres", registers: [registry] }),
    writeSeconds: new Histogram({ name: "probepilot_ingest_write_seconds", help: "Time to write one micro-batch (transaction with COPY)", buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [registry] }),
    seriesCached: new Gauge({ name: "probepilot_ingest_series_cached", help: "Series ids held in the ingester's registry cache", registers: [registry] }),
    deadLetters,
  };
}
export type IngestMetrics = ReturnType<typeof createIngestMetrics>;
