import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { JSONCodec, connect, type ConsumerMessages, type NatsConnection, type Subscription } from "nats";
import {
  AgentStatusMessageSchema,
  STATUS_SUBJECTS_ALL,
  TELEMETRY_STREAM,
  TelemetryBatchSchema,
  telemetrySubject,
  type AgentHello,
  type AgentStatusMessage,
  type Labels,
  type ProbeKind,
  type TelemetryBatch,
} from "@probepilot/shared";
import { Agent } from "../../src/agent.ts";
import { createAgentMetrics, type AgentMetrics } from "../../src/metrics.ts";
import { buildHello } from "../../src/host/hello.ts";
import { loadIdentity } from "../../src/identity/identity-store.ts";

const json = JSONCodec<unknown>();

/** The hello `main.ts` builds: real host facts, labels and capabilities of this machine. */
export const realHello = (userLabels: Labels = {}): Promise<AgentHello> => buildHello(userLabels);

/** A NATS connection configured like the agent's (reconnects forever), but with a short wait so tests stay quick. */
export function connectLikeAgent(url: string, name = "pp-test-agent"): Promise<NatsConnection> {
  return connect({ servers: url, name, maxReconnectAttempts: -1, reconnectTimeWait: 250, waitOnFirstConnect: true });
}

export type InProcessAgent = {
  agent: Agent;
  nc: NatsConnection;
  metrics: AgentMetrics;
  agentId: string;
  tenantId: string;
  /** NATS status events seen on the agent's connection (`disconnect`, `reconnect`, …), with when. */
  natsEvents: { type: string; at: number }[];
  /** Stop the agent (goodbye included) and close its connection. */
  stop: () => Promise<void>;
};

/**
 * Construct and start an `Agent` in this process on its own NATS connection.
 * With `dataDir` holding an identity, it re-identifies instead of enrolling.
 */
export async function startInProcessAgent(opts: {
  natsUrl: string;
  dataDir: string;
  hello: AgentHello;
  enrollToken?: string;
  defaultProbes?: ProbeKind[];
  heartbeatSec?: number;
  spoolMaxBytes?: number;
}): Promise<InProcessAgent> {
  const nc = await connectLikeAgent(opts.natsUrl);
  const metrics = createAgentMetrics();
  const agent = new Agent({
    nc,
    hello: opts.hello,
    dataDir: opts.dataDir,
    enrollToken: opts.enrollToken,
    heartbeatSec: opts.heartbeatSec ?? 1,
    defaultProbes: opts.defaultProbes ?? [],
    ...(opts.spoolMaxBytes !== undefined ? { spoolMaxBytes: opts.spoolMaxBytes } : {}),
    log: pino({ level: process.env.PP_TEST_LOG ?? "silent" }),
    metrics,
  });
  const natsEvents: { type: string; at: number }[] = [];
  void (async () => {
    for await (const s of nc.status()) {
      natsEvents.push({ type: s.type, at: Date.now() });
    }
  })();
  await agent.start();
  const identity = await loadIdentity(opts.dataDir);
  if (!identity) throw new Error("agent started but wrote no identity");
  return {
    agent,
    nc,
    metrics,
    agentId: identity.agentId,
    tenantId: identity.tenantId,
    natsEvents,
    stop: async () => {
      await agent.stop("test done");
      await nc.close();
    },
  };
}

export async function tempDir(prefix: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

type FullStatus = Extract<AgentStatusMessage, { type: "status" | "heartbeat" }>;

/**
 * Every status message agents publish, seen through a core-NATS subscription on
 * the status subjects (the stream itself is a work queue owned by the control
 * plane's durable consumer, so a second JetStream consumer cannot read it).
 */
export class StatusTap {
  readonly messages: AgentStatusMessage[] = [];
  private readonly sub: Subscription;

  constructor(nc: NatsConnection) {
    this.sub = nc.subscribe(STATUS_SUBJECTS_ALL, {
      callback: (err, msg) => {
        if (err) return;
        this.messages.push(AgentStatusMessageSchema.parse(json.decode(msg.data)));
      },
    });
  }

  /** The newest status or heartbeat of an agent (by its own clock and seq). */
  latest(agentId: string): FullStatus | undefined {
    let best: FullStatus | undefined;
    for (const m of this.messages) {
      if (m.agentId !== agentId || m.type === "goodbye") continue;
      if (!best || m.at > best.at || (m.at === best.at && m.seq > best.seq)) best = m;
    }
    return best;
  }

  stop(): void {
    this.sub.unsubscribe();
  }
}

/** Telemetry batches of one agent's probe, read from the `PP_TELEMETRY` stream through an ordered consumer. */
export class TelemetryTap {
  readonly batches: TelemetryBatch[] = [];
  /** When each batch arrived here (same index as `batches`). */
  readonly receivedAt: number[] = [];
  private messages: ConsumerMessages | null = null;
  private loop: Promise<void> | null = null;

  private constructor() {}

  static async start(nc: NatsConnection, tenantId: string, agentId: string, probe: string): Promise<TelemetryTap> {
    const tap = new TelemetryTap();
    const consumer = await nc.jetstream().consumers.get(TELEMETRY_STREAM, { filterSubjects: telemetrySubject(tenantId, agentId, probe) });
    tap.messages = await consumer.consume();
    tap.loop = (async () => {
      for await (const m of tap.messages!) {
        tap.receivedAt.push(Date.now());
        tap.batches.push(TelemetryBatchSchema.parse(m.json()));
      }
    })();
    return tap;
  }

  /** Batches sent at or after `since` (agent clock = this host's clock). */
  since(since: number): TelemetryBatch[] {
    return this.batches.filter((b) => b.sentAt >= since);
  }

  async stop(): Promise<void> {
    this.messages?.stop();
    await this.loop?.catch(() => {});
  }
}
