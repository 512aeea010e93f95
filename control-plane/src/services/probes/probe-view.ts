import { DEFAULT_PROBE_KINDS, PROBE_KINDS, probeParamsSchema, type ProbeKind, type ProbeVersionView } from "@probepilot/shared";
import { probeVersions, probes } from "../../db/schema.ts";

export type ProbeRow = typeof probes.$inferSelect;
export type ProbeVersionRow = typeof probeVersions.$inferSelect;

/** A probe as listings show it: its identity and whether agents run its kind without a policy. */
export type ProbeView = {
  id: string;
  name: string;
  kind: ProbeKind;
  description: string;
  /** The kind runs on every agent unless a policy says otherwise (the agent's default set). */
  default: boolean;
  createdAt: string;
};

export function toProbeView(row: ProbeRow): ProbeView {
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    description: row.description,
    default: DEFAULT_PROBE_KINDS.includes(row.kind),
    createdAt: row.createdAt.toISOString(),
  };
}

export function toProbeVersionView(probe: Pick<ProbeRow, "id" | "name" | "kind">, row: ProbeVersionRow): ProbeVersionView {
  return {
    probeId: probe.id,
    name: probe.name,
    kind: probe.kind,
    version: row.version,
    specHash: row.specHash,
    params: inSchemaOrder(probe.kind, row.params),
    createdBy: row.createdBy,
    createdAt: row.createdAt.toISOString(),
  };
}

const CATALOG_RANK = new Map<string, number>(PROBE_KINDS.map((kind, i) => [kind, i]));

/** Sort comparator on probe names: the built-in catalog in its documented order (host, network, performance, security), then other names alphabetically. */
export function byCatalogOrder(a: string, b: string): number {
  const ra = CATALOG_RANK.get(a) ?? PROBE_KINDS.length;
  const rb = CATALOG_RANK.get(b) ?? PROBE_KINDS.length;
  return ra - rb || (a < b ? -1 : a > b ? 1 : 0);
}

/**
 * Parameters with their keys in the order the kind's schema declares them (filters
 * first, then tuning, as docs/probes.md lists them): jsonb hands keys back sorted
 * by length, which reads as noise.
 */
function inSchemaOrder(kind: ProbeKind, params: Record<string, unknown>): Record<string, unknown> {
  const declared = Object.keys(probeParamsSchema(kind).shape);
  const keys = [...declared.filter((k) => k in params), ...Object.keys(params).filter((k) => !declared.includes(k))];
  return Object.fromEntries(keys.map((k) => [k, params[k]]));
}
