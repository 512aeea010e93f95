import type { JsMsg, NatsConnection } from "nats";
import type postgres from "postgres";
import {
  MAX_TELEMETRY_BATCH_BYTES,
  TELEMETRY_CONSUMER,
  TELEMETRY_STREAM,
  TELEMETRY_SUBJECT_PREFIX,
  validateTelemetryBatch,
  type TelemetryBatch,
} from "@probepilot/shared";
import type { Logger } from "../logger.ts";
import { BatchConsumer, postgresDataError, type Decoded, type Item, type Rejected } from "../nats/batch-consumer.ts";
import { DAY_MS, dayStart, ensureSamplePartitions } from "../db/samples-partitions.ts";
import { SeriesRegistry } from "./series-registry.ts";
import { MINUTE_MS, ROLLUP_LAG_MS } from "../workers/rollup-worker.ts";
import type { IngestMetrics } from "./ingest-metrics.ts";

export type IngesterOptions = {
  nc: NatsConnection;
  sql: postgres.Sql;
  log: Logger;
  metrics: IngestMetrics;
  /** Oldest accepted point, as an age: older data would be dropped by retention at once. */
  maxAgeMs: number;
  /** Newest accepted point, ahead of now (clock skew allowance). */
  maxAheadMs?: number;
  batchSize?: number;
  lingerMs?: number;
};

type Decoded_ = { batch: TelemetryBatch; samples: number; bytes: number };

const decoder = new TextDecoder();

/**
 * The telemetry ingester: drains PP_TELEMETRY through the shared durable consumer
 * (several ingesters share it), validates each batch on arrival, and writes a
 * micro-batch of batches in one transaction: ledger rows first (`on conflict do
 * nothing returning` tells which batches are new), then COPY of the new batches'
 * samples, then their histograms, events and profile stacks. Acked after commit,
 * so a crash means redelivery, and the ledger makes redelivery change nothing.
 */
export function createTelemetryIngester(o: IngesterOptions) {
  const registry = new SeriesRegistry(o.sql);
  const agents = new AgentDirectory(o.sql);
  const ensuredDays = new Set<number>();

  const decode = (msg: JsMsg): Decoded<Decoded_> => {
    if (msg.data.byteLength > MAX_TELEMETRY_BATCH_BYTES) {
      return { ok: false, reason: `oversize: ${msg.data.byteLength} bytes; the limit is ${MAX_TELEMETRY_BATCH_BYTES}` };
    }
    let raw: unknown;
    try {
      raw = JSON.parse(decoder.decode(msg.data));
    } catch {
      return { ok: false, reason: "not_json: body is not valid JSON" };
    }
    const verdict = validateTelemetryBatch(raw, { nowMs: Date.now(), maxAgeMs: o.maxAgeMs, maxAheadMs: o.maxAheadMs ?? 10 * 60_000 });
    if (!verdict.ok) return { ok: false, reason: verdict.reason };
    const b = verdict.batch;
    if (msg.subject !== `${TELEMETRY_SUBJECT_PREFIX}.${b.tenantId}.${b.agentId}.${b.probe}`) {
      return { ok: false, reason: `subject_mismatch: batch of ${b.tenantId}/${b.agentId}/${b.probe} published on ${msg.subject}` };
    }
    return { ok: true, value: { batch: b, samples: verdict.samples, bytes: msg.data.byteLength } };
  };

  const write = async (items: Item<Decoded_>[]): Promise<Rejected<Decoded_>[]> => {
    const rejected: Rejected<Decoded_>[] = [];
    // Only enrolled agents, and only on their own tenant.
    const tenantOf = await agents.tenants(items.map((i) => i.value.batch.agentId));
    const accepted: Item<Decoded_>[] = [];
    const seen = new Set<string>();
    let repeatedInFetch = 0;
    for (const item of items) {
      const b = item.value.batch;
      const tenant = tenantOf.get(b.agentId);
      if (tenant !== b.tenantId) rejected.push({ item, reason: tenant ? `wrong_tenant: agent ${b.agentId} belongs to another tenant` : `unknown_agent: ${b.agentId} is not enrolled` });
      else if (!seen.has(`${b.agentId}/${b.probe}/${b.seq}`)) {
        seen.add(`${b.agentId}/${b.probe}/${b.seq}`);
        accepted.push(item);
      } else repeatedInFetch++; // the same batch twice in one fetch: acked with the first

    }
    if (repeatedInFetch > 0) o.metrics.batches.inc({ outcome: "duplicate" }, repeatedInFetch);
    if (accepted.length === 0) return rejected;

    const seriesIds = await registry.resolve(accepted.flatMap(({ value: { batch: b } }) => b.series.map((s) => ({ tenantId: b.tenantId, agentId: b.agentId, probe: b.probe, series: s }))));
    const histogramIds = await registry.resolve(
      accepted.flatMap(({ value: { batch: b } }) => b.histograms.map((h) => ({ tenantId: b.tenantId, agentId: b.agentId, probe: b.probe, series: { metric: h.metric, kind: "histogram", unit: h.unit, labels: h.labels } }))),
    );
    await ensurePartitionsFor(accepted);

    const stored = await o.sql.begin(async (tx) => {
      const ledger = await tx<{ agent_id: string; probe: string; seq: string }[]>`
        insert into ingest_ledger (agent_id, probe, seq, tenant_id, samples)
        select * from unnest(
          ${accepted.map((i) => i.value.batch.agentId)}::text[], ${accepted.map((i) => i.value.batch.probe)}::text[],
          ${accepted.map((i) => i.value.batch.seq)}::bigint[], ${accepted.map((i) => i.value.batch.tenantId)}::text[],
          ${accepted.map((i) => i.value.samples)}::int[])
        on conflict do nothing
        returning agent_id, probe, seq`;
      const isNew = new Set(ledger.map((r) => `${r.agent_id}/${r.probe}/${r.seq}`));

      // Samples of the new batches, as COPY text rows: series_id \t ts \t value.
      let text = "";
      let samples = 0;
      let seriesIndex = 0;
      const histogramRows: { seriesId: number; ts: number; buckets: number[]; sum: number; count: number }[] = [];
      let histogramIndex = 0;
      // Points this old may land in minutes the rollup worker has already rolled up:
      // mark those minutes for recomputation (see rollup-worker.ts). Half the worker's
      // lag as margin covers an ingest transaction that started before a pass and
      // commits after it.
      const lateBefore = Date.now() - ROLLUP_LAG_MS / 2;
      const lateMinutes = new Set<number>();
      const events: TelemetryBatch["events"][number][] = [];
      const eventOwners: TelemetryBatch[] = [];
      const profiles: { b: TelemetryBatch; p: TelemetryBatch["profiles"][number] }[] = [];
      for (const { value } of accepted) {
        const b = value.batch;
        const fresh = isNew.has(`${b.agentId}/${b.probe}/${b.seq}`);
        for (const s of b.series) {
          const id = seriesIds[seriesIndex++]!;
          if (!fresh) continue;
          for (const [ts, v] of s.points) text += `${id}\t${ts}\t${v}\n`;
          samples += s.points.length;
        }
        for (const h of b.histograms) {
          const id = histogramIds[histogramIndex++]!;
          if (fresh) histogramRows.push({ seriesId: id, ts: h.at, buckets: h.buckets, sum: h.sum, count: h.count });
        }
        if (!fresh) continue;
        for (const s of b.series) for (const [ts] of s.points) if (ts < lateBefore) lateMinutes.add(ts - (ts % MINUTE_MS));
        for (const e of b.events) (events.push(e), eventOwners.push(b));
        for (const p of b.profiles) profiles.push({ b, p });
      }
      if (text) {
        const copy = await tx`copy samples (series_id, ts, value) from stdin`.writable();
        await new Promise<void>((resolve, reject) => {
          copy.once("error", reject);
          copy.once("finish", resolve);
          copy.end(text);
        });
      }
      if (lateMinutes.size > 0) {
        await tx`insert into rollup_dirty (bucket) select unnest(${[...lateMinutes]}::bigint[]) on conflict do nothing`;
      }
      if (histogramRows.length > 0) {
        await tx`
          insert into histogram_snapshots (series_id, ts, buckets, sum, count)
          select s, t, (select array_agg(x::bigint) from jsonb_array_elements_text(b::jsonb) x), su, c from unnest(
            ${histogramRows.map((h) => h.seriesId)}::bigint[], ${histogramRows.map((h) => h.ts)}::bigint[],
            ${histogramRows.map((h) => JSON.stringify(h.buckets))}::text[], ${histogramRows.map((h) => h.sum)}::float8[], ${histogramRows.map((h) => h.count)}::bigint[]
          ) as x(s, t, b, su, c)
          on conflict do nothing`;
      }
      if (events.length > 0) {
        await tx`
          insert into telemetry_events (tenant_id, agent_id, probe, name, ts, attrs)
          select * from unnest(
            ${eventOwners.map((b) => b.tenantId)}::text[], ${eventOwners.map((b) => b.agentId)}::text[], ${eventOwners.map((b) => b.probe)}::text[],
            ${events.map((e) => e.name)}::text[], ${events.map((e) => e.at)}::bigint[], ${events.map((e) => JSON.stringify(e.attrs))}::jsonb[])`;
      }
      const stacks = profiles.flatMap(({ b, p }) => p.stacks.map(([stack, count]) => ({ b, p, stack, count })));
      if (stacks.length > 0) {
        await tx`
          insert into profile_stacks (tenant_id, agent_id, ts, pid, comm, stack, count)
          select * from unnest(
            ${stacks.map((s) => s.b.tenantId)}::text[], ${stacks.map((s) => s.b.agentId)}::text[], ${stacks.map((s) => s.p.at)}::bigint[],
            ${stacks.map((s) => s.p.pid)}::int[], ${stacks.map((s) => s.p.comm)}::text[], ${stacks.map((s) => s.stack)}::text[], ${stacks.map((s) => s.count)}::int[])`;
      }
      return { batches: isNew.size, duplicates: accepted.length - isNew.size, samples };
    });
    o.metrics.batches.inc({ outcome: "stored" }, stored.batches);
    if (stored.duplicates > 0) o.metrics.batches.inc({ outcome: "duplicate" }, stored.duplicates);
    o.metrics.samples.inc(stored.samples);
    o.metrics.seriesCached.set(registry.size);
    return rejected;
  };

  /** Daily partitions must exist before COPY touches them; the partition manager makes them ahead, this covers the gaps. */
  const ensurePartitionsFor = async (items: Item<Decoded_>[]) => {
    const days = new Set<number>();
    for (const { value } of items) for (const s of value.batch.series) for (const [ts] of s.points) days.add(dayStart(ts));
    const missing = [...days].filter((d) => !ensuredDays.has(d));
    for (const day of missing) {
      await ensureSamplePartitions(o.sql, day, day + DAY_MS - 1);
      ensuredDays.add(day);
    }
  };

  return new BatchConsumer<Decoded_>({
    nc: o.nc,
    stream: TELEMETRY_STREAM,
    consumer: TELEMETRY_CONSUMER,
    source: "telemetry",
    log: o.log,
    batchSize: o.batchSize ?? 500,
    lingerMs: o.lingerMs ?? 50,
    decode,
    write,
    isDataError: postgresDataError,
    onDeadLetter: (reason) => {
      o.metrics.batches.inc({ outcome: "dead_letter" });
      o.metrics.deadLetters.inc({ source: "telemetry", reason: reason.split(":")[0] });
    },
    onWritten: (_count, seconds) => o.metrics.writeSeconds.observe(seconds),
  });
}

/** Which tenant each agent belongs to, from the registry; enrolled agents are cached (they never change tenant). */
class AgentDirectory {
  private readonly known = new Map<string, string>();
  constructor(private readonly sql: postgres.Sql) {}

  async tenants(agentIds: string[]): Promise<Map<string, string>> {
    const unknown = [...new Set(agentIds.filter((id) => !this.known.has(id)))];
    if (unknown.length > 0) {
      const rows = await this.sql<{ id: string; tenant_id: string }[]>`select id, tenant_id from agents where id = any(${unknown}::text[])`;
      for (const r of rows) this.known.set(r.id, r.tenant_id);
    }
    return this.known;
  }
}
