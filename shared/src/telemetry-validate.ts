import { TELEMETRY_ENVELOPE_VERSION, type TelemetryBatch } from "./telemetry.ts";
import { validateLabelKey, validateLabelValue } from "./labels.ts";

/**
 * Fast structural validation of a decoded telemetry batch, for the ingest hot path
 * (per-item zod parsing costs more than the rest of ingest together). It accepts
 * exactly what `TelemetryBatchSchema` accepts — a property test holds the two
 * together — and adds the time window: points older than `maxAgeMs` or more than
 * `maxAheadMs` in the future are rejected (they would land outside every partition
 * or be dropped by retention at once).
 *
 * The reason starts with a class (`version`, `schema`, `time`) and a colon, for counting.
 */
export type TelemetryVerdict = { ok: true; batch: TelemetryBatch; samples: number } | { ok: false; reason: string };

export type TimeWindow = { nowMs: number; maxAgeMs: number; maxAheadMs: number };

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

class Invalid extends Error {}
const fail = (path: string, what: string): never => {
  throw new Invalid(`schema: ${path}: ${what}`);
};
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown, path: string, min = 0): string => (typeof v === "string" && v.length >= min ? v : fail(path, min > 0 ? "expected a non-empty string" : "expected a string"));
const int = (v: unknown, path: string): number => (typeof v === "number" && Number.isInteger(v) && v >= 0 ? v : fail(path, "expected a non-negative integer"));
const finite = (v: unknown, path: string): number => (typeof v === "number" && Number.isFinite(v) ? v : fail(path, "expected a finite number"));
const obj = (v: unknown, path: string): Record<string, unknown> => (isObject(v) ? v : fail(path, "expected an object"));
const unit = (v: unknown, path: string): void => {
  if (v !== undefined && (typeof v !== "string" || v.length > 32)) fail(path, "expected a string of at most 32 characters");
};
const arr = (v: unknown, path: string): unknown[] => (v === undefined ? [] : Array.isArray(v) ? v : fail(path, "expected an array"));
/** Label keys repeat across every batch: remember the valid ones (bounded) instead of re-checking. */
const validKeys = new Set<string>();
function labels(v: unknown, path: string): Record<string, string> {
  if (!isObject(v)) fail(path, "expected an object of string labels");
  const o = v as Record<string, unknown>;
  for (const k in o) {
    if (!validKeys.has(k)) {
      const problem = validateLabelKey(k);
      if (problem) fail(`${path}.${k}`, problem);
      if (validKeys.size < 10_000) validKeys.add(k);
    }
    const value = o[k];
    if (typeof value !== "string") fail(`${path}.${k}`, "expected a string");
    const problem = validateLabelValue(value as string);
    if (problem) fail(`${path}.${k}`, problem);
  }
  return o as Record<string, string>;
}

export function validateTelemetryBatch(raw: unknown, window: TimeWindow): TelemetryVerdict {
  try {
    if (!isObject(raw)) return { ok: false, reason: "schema: (root): expected an object" };
    if (raw.v !== TELEMETRY_ENVELOPE_VERSION) return { ok: false, reason: `version: envelope version ${JSON.stringify(raw.v)}; this ingester reads version ${TELEMETRY_ENVELOPE_VERSION}` };
    const oldest = window.nowMs - window.maxAgeMs;
    const newest = window.nowMs + window.maxAheadMs;
    const at = (v: unknown, path: string) => {
      const t = int(v, path);
      if (t < oldest || t > newest) throw new Invalid(`time: ${path}: ${new Date(t).toISOString()} is outside the accepted window ${new Date(oldest).toISOString()} … ${new Date(newest).toISOString()}`);
      return t;
    };
    str(raw.tenantId, "tenantId", 1);
    str(raw.agentId, "agentId", 1);
    str(raw.probe, "probe", 1);
    str(raw.probeVersion, "probeVersion", 1);
    int(raw.seq, "seq");
    int(raw.sentAt, "sentAt");
    let samples = 0;
    const series = arr(raw.series, "series");
    for (let i = 0; i < series.length; i++) {
      const s = series[i];
      const p = `series.${i}`;
      const o = obj(s, p);
      if (typeof o.metric !== "string" || !METRIC_NAME.test(o.metric)) fail(`${p}.metric`, "metric names follow Prometheus rules: [a-zA-Z_:][a-zA-Z0-9_:]*");
      if (o.kind !== "gauge" && o.kind !== "counter") fail(`${p}.kind`, 'expected "gauge" or "counter"');
      unit(o.unit, `${p}.unit`);
      labels(o.labels, `${p}.labels`);
      const points = o.points;
      if (!Array.isArray(points) || points.length === 0) fail(`${p}.points`, "expected a non-empty array of [unixMillis, value]");
      for (let j = 0; j < (points as unknown[]).length; j++) {
        const pt = (points as unknown[])[j];
        if (!Array.isArray(pt) || pt.length !== 2) fail(`${p}.points.${j}`, "expected [unixMillis, value]");
        at((pt as unknown[])[0], `${p}.points.${j}.0`);
        finite((pt as unknown[])[1], `${p}.points.${j}.1`);
      }
      samples += (points as unknown[]).length;
    }
    const histograms = arr(raw.histograms, "histograms");
    for (let i = 0; i < histograms.length; i++) {
      const h = histograms[i];
      const p = `histograms.${i}`;
      const o = obj(h, p);
      str(o.metric, `${p}.metric`, 1);
      unit(o.unit, `${p}.unit`);
      labels(o.labels, `${p}.labels`);
      at(o.at, `${p}.at`);
      const buckets = arr(o.buckets, `${p}.buckets`);
      if (buckets.length > 64) fail(`${p}.buckets`, "at most 64 log2 buckets");
      buckets.forEach((b, j) => int(b, `${p}.buckets.${j}`));
      finite(o.sum, `${p}.sum`);
      int(o.count, `${p}.count`);
    }
    const events = arr(raw.events, "events");
    for (let i = 0; i < events.length; i++) {
      const e = events[i];
      const p = `events.${i}`;
      const o = obj(e, p);
      str(o.name, `${p}.name`, 1);
      at(o.at, `${p}.at`);
      for (const [k, v] of Object.entries(obj(o.attrs, `${p}.attrs`))) {
        if (!(v === null || typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v)))) fail(`${p}.attrs.${k}`, "expected a string, finite number, boolean or null");
      }
    }
    const profiles = arr(raw.profiles, "profiles");
    for (let i = 0; i < profiles.length; i++) {
      const pr = profiles[i];
      const p = `profiles.${i}`;
      const o = obj(pr, p);
      at(o.at, `${p}.at`);
      int(o.pid, `${p}.pid`);
      str(o.comm, `${p}.comm`);
      const stacks = arr(o.stacks, `${p}.stacks`);
      stacks.forEach((st, j) => {
        if (!Array.isArray(st) || st.length !== 2 || typeof st[0] !== "string" || !(Number.isInteger(st[1]) && (st[1] as number) > 0)) fail(`${p}.stacks.${j}`, "expected [folded stack, positive count]");
      });
    }
    const batch = { ...(raw as object), series, histograms, events, profiles } as TelemetryBatch;
    return { ok: true, batch, samples };
  } catch (error) {
    if (error instanceof Invalid) return { ok: false, reason: error.message };
    throw error;
  }
}
