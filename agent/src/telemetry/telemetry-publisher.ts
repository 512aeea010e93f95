import { randomBytes } from "node:crypto";
import type { JetStreamClient } from "nats";
import { MAX_TELEMETRY_BATCH_BYTES, TELEMETRY_ENVELOPE_VERSION, telemetrySubject, type MetricSeries, type TelemetryBatch } from "@probepilot/shared";
import type { Logger } from "../logger.ts";
import type { AgentMetrics } from "../metrics.ts";

const encoder = new TextEncoder();

/**
 * Wraps probe output in the versioned batch envelope and publishes it to the
 * telemetry stream with a JetStream ack. `seq` is monotonic per probe within
 * this process. (A restart-safe sequence and the disk spool for NATS outages
 * belong to the telemetry pipeline; until then a failed publish is counted as dropped.)
 */
export class TelemetryPublisher {
  private readonly seqByProbe = new Map<string, number>();
  /**
   * Distinguishes this publisher's batches from an earlier process's: `seq` restarts at 0,
   * and JetStream would silently drop a restarted agent's first batches as duplicates of
   * the previous run's (same msgID within the 2-minute duplicate window).
   */
  private readonly instance = randomBytes(6).toString("hex");

  constructor(
    private readonly js: JetStreamClient,
    private readonly tenantId: string,
    private readonly agentId: string,
    private readonly log: Logger,
    private readonly metrics: AgentMetrics,
  ) {}

  async publishSeries(probe: string, probeVersion: string, series: MetricSeries[]): Promise<void> {
    const seq = this.seqByProbe.get(probe) ?? 0;
    this.seqByProbe.set(probe, seq + 1);
    const batch: TelemetryBatch = {
      v: TELEMETRY_ENVELOPE_VERSION,
      tenantId: this.tenantId,
      agentId: this.agentId,
      probe,
      probeVersion,
      seq,
      sentAt: Date.now(),
      series,
      histograms: [],
      events: [],
      profiles: [],
    };
    const data = encoder.encode(JSON.stringify(batch));
    if (data.byteLength > MAX_TELEMETRY_BATCH_BYTES) {
      this.metrics.telemetryBatches.inc({ probe, outcome: "oversize" });
      this.log.error({ probe, bytes: data.byteLength }, "telemetry batch over the size limit: dropped");
      return;
    }
    try {
      await this.js.publish(telemetrySubject(this.tenantId, this.agentId, probe), data, { msgID: `${this.agentId}.${this.instance}.${probe}.${seq}` });
      this.metrics.telemetryBatches.inc({ probe, outcome: "published" });
      this.metrics.telemetryBytes.inc({ probe }, data.byteLength);
    } catch (err) {
      this.metrics.telemetryBatches.inc({ probe, outcome: "failed" });
      this.log.warn({ probe, seq, err: (err as Error).message }, "telemetry publish failed: batch dropped");
    }
  }
}
