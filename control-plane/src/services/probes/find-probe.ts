import { and, asc, eq } from "drizzle-orm";
import type { DbOrTx } from "../../db/client.ts";
import { probes } from "../../db/schema.ts";
import { ServiceError } from "../errors.ts";
import { byCatalogOrder, type ProbeRow } from "./probe-view.ts";

/** Beyond this many probes a NOT_FOUND message points at the listing instead of naming them all. */
const MAX_NAMES_IN_MESSAGE = 20;

/** Whether a probe reference is an id (`prb_…`) rather than a name. */
const isProbeId = (ref: string) => ref.startsWith("prb_");

/**
 * The caller's tenant's probe named `ref` (or with id `ref` when it starts with
 * `prb_`), or NOT_FOUND naming what exists. `forUpdate` locks the row until the
 * transaction ends: version numbers are allocated under that lock.
 */
export async function findProbe(db: DbOrTx, tenantId: string, ref: string, opts: { forUpdate?: boolean } = {}): Promise<ProbeRow> {
  const query = db
    .select()
    .from(probes)
    .where(and(eq(probes.tenantId, tenantId), isProbeId(ref) ? eq(probes.id, ref) : eq(probes.name, ref)))
    .limit(1);
  const [row] = opts.forUpdate ? await query.for("update") : await query;
  if (row) return row;
  throw await unknownProbe(db, tenantId, ref);
}

/**
 * `unknown probe "tcp_flow" (did you mean "tcp_flows"?); the catalog has: host, tcp_flows, …`:
 * the names when there are few, else where to see them.
 */
async function unknownProbe(db: DbOrTx, tenantId: string, ref: string): Promise<ServiceError> {
  const names = (await db.select({ name: probes.name }).from(probes).where(eq(probes.tenantId, tenantId)).orderBy(asc(probes.name)))
    .map((r) => r.name)
    .sort(byCatalogOrder);
  if (isProbeId(ref)) return new ServiceError("NOT_FOUND", `probe "${ref}" not found in this tenant; \`probepilot probes list\` shows the probes and their ids`);
  const guess = closestName(ref, names);
  const hint = guess ? ` (did you mean "${guess}"?)` : "";
  const known =
    names.length <= MAX_NAMES_IN_MESSAGE
      ? `the catalog has: ${names.join(", ")}`
      : `there are ${names.length} probes; \`probepilot probes list\` shows them`;
  return new ServiceError("NOT_FOUND", `unknown probe "${ref}"${hint}; ${known}`);
}

/** The name closest to `ref` (case aside) within edit distance 2, if any: a typo's likely intent. */
export function closestName(ref: string, names: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const name of names) {
    const d = editDistance(ref.toLowerCase(), name.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [name, d];
  }
  return best;
}

/** Levenshtein distance; names are short (≤ 64 characters). */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = current;
  }
  return previous[b.length]!;
}
