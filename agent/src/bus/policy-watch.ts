import type { KvEntry, NatsConnection, QueuedIterator } from "nats";
import { PolicySchema, describeZodError, policyBucket, type Policy } from "@probepilot/shared";
import type { Logger } from "../logger.ts";

/**
 * Watches the tenant's policy bucket. The watch replays every current value first
 * (so an agent that was offline gets exactly the current state), then streams
 * changes. Values that do not parse are kept out of the desired state and
 * reported, by key, in `invalid`.
 */
export class PolicyWatch {
  readonly policies = new Map<string, Policy>();
  readonly invalid = new Map<string, string>();
  private iterator: QueuedIterator<KvEntry> | null = null;
  private loop: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly tenantId: string,
    private readonly onChange: () => void,
    private readonly log: Logger,
  ) {}

  /** Resolves once the current values have been replayed (the first reconcile can then run). */
  async start(): Promise<void> {
    const bucket = policyBucket(this.tenantId);
    const kv = await this.nc.jetstream().views.kv(bucket, { bindOnly: true });
    let initialized!: () => void;
    const replayed = new Promise<void>((resolve) => (initialized = resolve));
    this.iterator = await kv.watch({ initializedFn: () => initialized() });
    this.loop = (async () => {
      for await (const entry of this.iterator!) {
        this.apply(entry);
        this.onChange();
      }
    })().catch((err) => {
      if (!this.stopped) this.log.error({ err }, "policy watch ended unexpectedly");
    });
    await replayed;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.iterator?.stop();
    await this.loop;
  }

  private apply(entry: KvEntry): void {
    if (entry.operation === "DEL" || entry.operation === "PURGE") {
      this.policies.delete(entry.key);
      this.invalid.delete(entry.key);
      this.log.info({ policy: entry.key }, "policy removed");
      return;
    }
    let raw: unknown;
    try {
      raw = entry.json();
    } catch {
      raw = undefined;
    }
    const parsed = PolicySchema.safeParse(raw);
    if (!parsed.success) {
      const reason = raw === undefined ? "value is not JSON" : describeZodError(parsed.error);
      this.policies.delete(entry.key);
      this.invalid.set(entry.key, reason);
      this.log.warn({ policy: entry.key, revision: entry.revision, reason }, "ignored invalid policy");
      return;
    }
    this.invalid.delete(entry.key);
    this.policies.set(entry.key, { ...parsed.data, revision: entry.revision });
    this.log.info({ policy: entry.key, revision: entry.revision, probe: parsed.data.probe.kind }, "policy updated");
  }
}
