import { randomUUID } from "node:crypto";
import { JSONCodec, type JetStreamClient } from "nats";
import { statusSubject, type AgentStatusMessage } from "@probepilot/shared";
import type { Logger } from "../logger.ts";
import type { AgentMetrics } from "../metrics.ts";

type Full = Extract<AgentStatusMessage, { type: "heartbeat" | "status" }>;
/** The part of a status message the agent's state provides. */
export type StatusState = Pick<Full, "labels" | "appliedPolicies" | "probes" | "conflicts" | "invalidPolicies">;

const json = JSONCodec<AgentStatusMessage>();

/**
 * Publishes this agent's state to the status stream: a heartbeat every interval,
 * a `status` shortly after any change (changes within 100 ms coalesce), and a
 * `goodbye` on clean shutdown. Every message carries the full state, so a lost
 * one is repaired by the next.
 */
export class StatusReporter {
  private seq = 0;
  /** Identifies this agent process in every message (see `instanceId` in shared). */
  private readonly instanceId = randomUUID();
  private heartbeat: NodeJS.Timeout | null = null;
  private pendingChange: NodeJS.Timeout | null = null;
  /** Set by `stop()`: nothing but the goodbye may follow it (a later, higher-seq status would flip the agent back online). */
  private stopped = false;
  private readonly startedAt = Date.now();

  constructor(
    private readonly js: JetStreamClient,
    private readonly tenantId: string,
    private readonly agentId: string,
    private readonly heartbeatSec: number,
    private readonly state: () => StatusState,
    private readonly log: Logger,
    private readonly metrics: AgentMetrics,
  ) {}

  start(): void {
    if (this.stopped) return;
    void this.publish("status");
    this.heartbeat = setInterval(() => void this.publish("heartbeat"), this.heartbeatSec * 1000);
  }

  /** Something in the state changed: report it soon. A no-op after `stop()`. */
  changed(): void {
    if (this.stopped || this.pendingChange) return;
    this.pendingChange = setTimeout(() => {
      this.pendingChange = null;
      void this.publish("status");
    }, 100);
  }

  /**
   * Stop reporting and say goodbye, so the control plane marks the agent offline at once.
   * The goodbye is the last message: `changed()`, heartbeats and `start()` do nothing afterwards.
   */
  async stop(reason: string): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.pendingChange) clearTimeout(this.pendingChange);
    this.heartbeat = this.pendingChange = null;
    await this.send({ type: "goodbye", reason, ...this.base() });
  }

  private base() {
    return { agentId: this.agentId, tenantId: this.tenantId, instanceId: this.instanceId, seq: this.seq++, at: Date.now() };
  }

  private async publish(type: "heartbeat" | "status"): Promise<void> {
    // stop() clears the timers, but any caller reaching here afterwards must not send after the goodbye.
    if (this.stopped) return;
    await this.send({ type, ...this.base(), uptimeSec: (Date.now() - this.startedAt) / 1000, heartbeatIntervalSec: this.heartbeatSec, ...this.state() });
  }

  private async send(message: AgentStatusMessage): Promise<void> {
    try {
      await this.js.publish(statusSubject(this.tenantId, this.agentId), json.encode(message), { timeout: 5000 });
      this.metrics.statusMessages.inc({ type: message.type, outcome: "published" });
    } catch (err) {
      // The next heartbeat carries the full state again; nothing to queue.
      this.metrics.statusMessages.inc({ type: message.type, outcome: "failed" });
      this.log.warn({ type: message.type, err: (err as Error).message }, "status publish failed");
    }
  }
}
