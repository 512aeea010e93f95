import { AckPolicy, DiscardPolicy, type ConsumerConfig, RetentionPolicy, StorageType, nanos, type JetStreamManager, type NatsConnection, type StreamConfig } from "nats";
import {
  DEAD_LETTER_STREAM,
  DEAD_LETTER_SUBJECT_PREFIX,
  STATUS_CONSUMER,
  STATUS_STREAM,
  STATUS_SUBJECTS_ALL,
  TELEMETRY_CONSUMER,
  TELEMETRY_STREAM,
  TELEMETRY_SUBJECTS_ALL,
  agentConfigBucket,
  policyBucket,
} from "@probepilot/shared";

const DAY_MS = 24 * 3600 * 1000;

const STREAMS: Partial<StreamConfig>[] = [
  // Status: a work queue drained by the control planes' shared durable consumer.
  { name: STATUS_STREAM, subjects: [STATUS_SUBJECTS_ALL], retention: RetentionPolicy.Workqueue, max_age: nanos(DAY_MS), storage: StorageType.File },
  // Telemetry: kept a while so that ingesters can catch up after an outage.
  { name: TELEMETRY_STREAM, subjects: [TELEMETRY_SUBJECTS_ALL], retention: RetentionPolicy.Limits, max_age: nanos(2 * DAY_MS), max_bytes: 4 * 1024 ** 3, discard: DiscardPolicy.Old, storage: StorageType.File },
  { name: DEAD_LETTER_STREAM, subjects: [`${DEAD_LETTER_SUBJECT_PREFIX}.>`], retention: RetentionPolicy.Limits, max_age: nanos(7 * DAY_MS), max_msgs: 100_000, storage: StorageType.File },
];

/** Create or update the streams and the status and ingest consumers. Idempotent; safe with several control planes. */
export async function ensureJetStream(nc: NatsConnection): Promise<JetStreamManager> {
  const jsm = await nc.jetstreamManager();
  for (const config of STREAMS) {
    const name = config.name!;
    const exists = await jsm.streams.info(name).then(
      () => true,
      () => false,
    );
    if (exists) await jsm.streams.update(name, config);
    else await jsm.streams.add(config);
  }
  await ensureConsumer(jsm, TELEMETRY_STREAM, {
    durable_name: TELEMETRY_CONSUMER,
    ack_policy: AckPolicy.Explicit,
    // A batch unacked this long (its ingester died) goes to another ingester.
    ack_wait: nanos(30_000),
    // Bounds what the ingesters hold unacked (memory, and batches that would outwait
    // ack_wait): 50,000 let one ingester buffer 96% of a 4M-sample burst (bench:ingest).
    max_ack_pending: 8_000,
  });
  await ensureConsumer(jsm, STATUS_STREAM, {
    durable_name: STATUS_CONSUMER,
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(30_000),
    max_ack_pending: 20_000,
  });
  return jsm;
}

/** Create a durable consumer, or bring an existing one's settings up to date (an upgrade may change them). */
async function ensureConsumer(jsm: JetStreamManager, stream: string, config: Partial<ConsumerConfig> & { durable_name: string }): Promise<void> {
  const exists = await jsm.consumers.info(stream, config.durable_name).then(
    () => true,
    () => false,
  );
  if (!exists) await jsm.consumers.add(stream, config);
  else {
    const { durable_name: _name, ack_policy: _policy, ...updatable } = config;
    await jsm.consumers.update(stream, config.durable_name, updatable);
  }
}

/** Create a tenant's KV buckets (policies, agent config) if they are missing. */
export async function ensureTenantBuckets(nc: NatsConnection, tenantId: string): Promise<void> {
  const js = nc.jetstream();
  await js.views.kv(policyBucket(tenantId), { history: 5 });
  await js.views.kv(agentConfigBucket(tenantId), { history: 1 });
}
