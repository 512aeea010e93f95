import type { KvEntry, NatsConnection, QueuedIterator } from "nats";
import { Backoff, PolicySchema, describeZodError, policyBucket, sleep, type Policy } from "@probepilot/shared";
import type { Logger } from "../logger.ts";

const MIN_REWATCH_BACKOFF_MS = 250;
const MAX_REWATCH_BACKOFF_MS = 5000;

/**
 * Watches the tenant's policy bucket. The watch replays every current value first
 * (so an agent that was offline gets exactly the current state), then streams
 * changes. Values that do not parse are kept out of the desired state and
 * reported, by key, in `invalid`.
 *
 * After a reconnect the watch is re-created (`rewatch`): a restarted server has
 * lost the watch's ephemeral consumer, and nats.js alone only notices after two
 * missed idle heartbeats (10–15 s), so writes made meanwhile would arrive late.
 */
export class PolicyWatch {
  readonly policies = new Map<string, Policy>();
  readonly invalid = new Map<string, string>();
  private iterator: QueuedIterator<KvEntry> | null = null;
  private loop: Promise<void> | null = null;
  /** Bumped by every (re)watch and by stop: a superseded watch neither applies entries nor reports. */
  private generation = 0;
  private rewatching: Promise<void> | null = null;
  private rewatchWanted = false;
  private stopped = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly tenantId: string,
    private readonly onChange: () => void,
    private readonly log: Logger,
  ) {}

  /** Resolves once the current values have been replayed (the first reconcile can then run). */
  async start(): Promise<void> {
    await this.watch();
  }

  /**
   * Re-create the watch and replay the current values (call after a reconnect).
   * Keys missing from the replay are dropped. Retries with backoff until it
   * succeeds or the watch is stopped; never rejects.
   */
  rewatch(): Promise<void> {
    this.rewatchWanted = true;
    return (this.rewatching ??= (async () => {
      const backoff = new Backoff(MIN_REWATCH_BACKOFF_MS, MAX_REWATCH_BACKOFF_MS);
      // Loops again when another reconnect asked for a rewatch while this one was in flight.
      while (this.rewatchWanted && !this.stopped) {
        this.rewatchWanted = false;
        try {
          await this.watch();
          this.log.info({ policies: this.policies.size }, "policy watch re-created");
        } catch (err) {
          const waitMs = backoff.next();
          this.log.warn({ err: (err as Error).message, retryInMs: waitMs }, "could not re-create the policy watch; retrying");
          this.rewatchWanted = true;
          await sleep(waitMs);
        }
      }
    })().finally(() => (this.rewatching = null)));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.generation++;
    this.iterator?.stop();
    await this.loop;
  }

  private async watch(): Promise<void> {
    const generation = ++this.generation;
    this.iterator?.stop(); // the superseded loop ends; its generation check keeps it quiet
    const current = () => generation === this.generation && !this.stopped;
    // Bound without lookups: the agent's user may create a watch consumer on this bucket, not inspect the account or stream.
    const kv = await this.nc.jetstream({ checkAPI: false }).views.kv(policyBucket(this.tenantId), { bindOnly: true });
    const seen = new Set<string>();
    let replaying = true;
    let initialized!: () => void;
    const replayed = new Promise<void>((resolve) => (initialized = resolve));
    const iterator = await kv.watch({
      initializedFn: () => {
        replaying = false;
        if (current()) {
          // A key deleted and then removed from the stream while we were away has no marker to replay.
          for (const key of [...this.policies.keys(), ...this.invalid.keys()]) {
            if (seen.has(key)) continue;
            this.policies.delete(key);
            this.invalid.delete(key);
            this.log.info({ policy: key }, "policy removed (absent on replay)");
          }
          this.onChange();
        }
        initialized();
      },
    });
    if (!current()) return void iterator.stop();
    this.iterator = iterator;
    const loop = (async () => {
      for await (const entry of iterator) {
        if (!current()) break;
        seen.add(entry.key);
        this.apply(entry);
        // During the replay one change is reported at the end (initializedFn), not one per key.
        if (!replaying) this.onChange();
      }
    })();
    this.loop = loop.then(
      () => {
        if (current() && !replaying) {
          this.log.warn("policy watch ended unexpectedly; re-creating it");
          void this.rewatch();
        }
      },
      (err) => {
        if (current() && !replaying) {
          this.log.error({ err }, "policy watch failed; re-creating it");
          void this.rewatch();
        }
      },
    );
    // A watch that dies before its replay completes fails this call (start throws, rewatch retries).
    await Promise.race([
      replayed,
      loop.then(
        () => {
          if (replaying && current()) throw new Error("policy watch ended before replaying the current policies");
        },
        (err) => {
          if (replaying && current()) throw err;
        },
      ),
    ]);
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
