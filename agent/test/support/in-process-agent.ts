import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { JSONCodec, type ConsumerMessages, type NatsConnection, type Subscription } from "nats";
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
import { loadIdentity, type StoredIdentity } from "../../src/identity/identity-store.ts";
import { enrollAgent } from "../../src/identity/enroll.ts";
import { AgentCredentials } from "../../src/identity/agent-credentials.ts";
import { connectAgentNats } from "../../src/bus/connect.ts";

const json = JSONCodec<unknown>();

/** The hello `main.ts` builds: real host facts, labels and capabilities of this machine. */
export const realHello = (userLabels: Labels = {}): Promise<AgentHello> => buildHello(userLabels);

/** Where a test agent finds NATS (with its CA) and the control plane. */
export type AgentEndpoints = { natsUrl: string; caFile?: string; controlPlaneUrl: string };

/** The stored identity in `dataDir`, or a new one enrolled over the control plane's API (what main.ts does). */
export async function identityOrEnroll(endpoints: AgentEndpoints, dataDir: string, hello: AgentHello, enrollToken: string | undefined, log = pino({ level: process.env.PP_TEST_LOG ?? "silent" })): Promise<StoredIdentity> {
  const loaded = await loadIdentity(dataDir);
  if (loaded && !loaded.legacy) return loaded;
  if (!enrollToken) throw new Error(`no identity in ${dataDir} and no enrollment token`);
  return enrollAgent({ controlPlane: { url: endpoints.controlPlaneUrl, ...(endpoints.caFile ? { caFile: endpoints.caFile } : {}) }, hello, dataDir, enrollToken, log });
}

export type InProcessAgent = {
  agent: Agent;
  nc: NatsConnection;
  credentials: AgentCredentials;
  metrics: AgentMetrics;
  agentId: string;
  tenantId: string;
  /** NATS status events seen on the agent's connection (`disconnect`, `reconnect`, …), with when. */
  natsEvents: { type: string; at: number }[];
  /** Stop the agent (goodbye included) and close its connection. */
  stop: () => Promise<void>;
};

/**
 * Construct and start an `Agent` in this process on its own NATS connection, as
 * `main.ts` does: enroll over HTTP unless `dataDir` holds an identity, connect
 * as the agent's own NATS user, start.
 */
export async function startInProcessAgent(opts: AgentEndpoints & {
  dataDir: string;
  hello: AgentHello;
  enrollToken?: string;
  defaultProbes?: ProbeKind[];
  heartbeatSec?: number;
  spoolMaxBytes?: number;
}): Promise<InProcessAgent> {
  const log = pino({ level: process.env.PP_TEST_LOG ?? "silent" });
  const stored = await identityOrEnroll(opts, opts.dataDir, opts.hello, opts.enrollToken, log);
  const credentials = new AgentCredentials(stored, {
    dataDir: opts.dataDir,
    controlPlane: { url: opts.controlPlaneUrl, ...(opts.caFile ? { caFile: opts.caFile } : {}) },
    log,
    onLost: (lost) => log.error(lost, "credentials lost"),
  });
  // As main.ts: a JWT that expired while the agent was off is renewed over HTTP before connecting.
  await credentials.renewIfExpired();
  // Connected like the agent (its own user and inbox prefix, TLS, reconnects forever), with a short wait so tests stay quick.
  const nc = await connectAgentNats({ natsUrl: opts.natsUrl, caFile: opts.caFile ?? null, name: "pp-test-agent", credentials, log, reconnectTimeWaitMs: 250 });
  credentials.watch(nc);
  const metrics = createAgentMetrics();
  const agent = new Agent({
    nc,
    identity: stored.identity,
    hello: opts.hello,
    dataDir: opts.dataDir,
    heartbeatSec: opts.heartbeatSec ?? 1,
    defaultProbes: opts.defaultProbes ?? [],
    ...(opts.spoolMaxBytes !== undefined ? { spoolMaxBytes: opts.spoolMaxBytes } : {}),
    log,
    metrics,
  });
  const natsEvents: { type: string; at: number }[] = [];
  void (async () => {
    for await (const s of nc.status()) {
      natsEvents.push({ type: s.type, at: Date.now() });
    }
  })();
  await agent.start();
  return {
    agent,
    nc,
    credentials,
    metrics,
    agentId: stored.identity.agentId,
    tenantId: stored.identity.tenantId,
    natsEvents,
    stop: async () => {
      credentials.stop();
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
