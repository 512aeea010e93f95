import { JSONCodec, type NatsConnection, type Subscription } from "nats";
import { AgentConfigSchema, agentConfigBucket, agentConfigNudgeSubject, type AgentConfig } from "@probepilot/shared";
import type { Logger } from "../logger.ts";

const json = JSONCodec<unknown>();

/**
 * Keeps this agent's central config current. The config lives in one KV key per
 * agent; instead of a KV watcher per agent (which stalls at fleet scale, see the
 * brief) the agent subscribes to a core-NATS nudge and re-reads its key on every
 * (re)connect. Only newer revisions are applied.
 */
export class AgentConfigWatch {
  private sub: Subscription | null = null;
  private current: AgentConfig;

  constructor(
    private readonly nc: NatsConnection,
    private readonly tenantId: string,
    private readonly agentId: string,
    initial: AgentConfig,
    private readonly onConfig: (config: AgentConfig) => void,
    private readonly log: Logger,
  ) {
    this.current = initial;
  }

  get config(): AgentConfig {
    return this.current;
  }

  start(): void {
    this.sub = this.nc.subscribe(agentConfigNudgeSubject(this.tenantId, this.agentId), {
      callback: (err, msg) => {
        if (err) return this.log.error({ err }, "config nudge subscription failed");
        this.accept(json.decode(msg.data), "nudge");
      },
    });
  }

  /** Re-read the config key (after a reconnect, a nudge may have been missed). */
  async refresh(): Promise<void> {
    try {
      // A direct get names the key in its subject: the agent's user may read only its own.
      const kv = await this.nc.jetstream({ checkAPI: false }).views.kv(agentConfigBucket(this.tenantId), { bindOnly: true, allow_direct: true });
      const entry = await kv.get(this.agentId);
      if (entry && entry.operation === "PUT") this.accept(entry.json(), "kv");
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "could not read central config; keeping the current one");
    }
  }

  stop(): void {
    this.sub?.unsubscribe();
    this.sub = null;
  }

  private accept(raw: unknown, source: string): void {
    const parsed = AgentConfigSchema.safeParse(raw);
    if (!parsed.success) return this.log.warn({ source }, "ignored malformed central config");
    if (parsed.data.revision <= this.current.revision) return;
    this.current = parsed.data;
    this.log.info({ revision: parsed.data.revision, centralLabels: parsed.data.centralLabels, source }, "central config changed");
    this.onConfig(parsed.data);
  }
}
