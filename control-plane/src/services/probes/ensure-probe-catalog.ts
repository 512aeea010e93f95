import { and, eq, inArray } from "drizzle-orm";
import { PgTransaction } from "drizzle-orm/pg-core";
import { PROBE_KINDS, PROBE_KIND_SUMMARIES, newId, probeParamsSchema } from "@probepilot/shared";
import type { DbOrTx } from "../../db/client.ts";
import { probeVersions, probes } from "../../db/schema.ts";
import { specHash } from "./spec-hash.ts";

/** Who created the catalog's probes and their first versions. */
export const CATALOG_ACTOR = "system";

/**
 * Tenants whose catalog is known to be in place, per database handle: after the
 * first call for a tenant, {@link ensureProbeCatalog} costs a map lookup. The
 * promise is kept (not a flag) so that concurrent first calls share one seeding.
 */
const ensured = new WeakMap<object, Map<string, Promise<void>>>();

/**
 * Make sure the tenant has the built-in catalog: one probe per kind, named after
 * it, whose version 1 is the kind's default parameters, created by "system".
 * Idempotent (inserts that skip what exists), so it also serves tenants created
 * before probes existed and kinds added by a later release. Every probe service
 * calls it first; rollout services should too.
 *
 * Call it with the pool (`Db`), before opening your own transaction: inside a
 * transaction it seeds every time and is not remembered, because that
 * transaction may still roll back.
 */
export async function ensureProbeCatalog(db: DbOrTx, tenantId: string): Promise<void> {
  if (db instanceof PgTransaction) return seedCatalog(db, tenantId);
  let tenants = ensured.get(db);
  if (!tenants) ensured.set(db, (tenants = new Map()));
  let pending = tenants.get(tenantId);
  if (!pending) {
    pending = seedCatalog(db, tenantId);
    tenants.set(tenantId, pending);
    // A failure (database down) is not remembered: the next call tries again.
    pending.catch(() => tenants.delete(tenantId));
  }
  return pending;
}

async function seedCatalog(db: DbOrTx, tenantId: string): Promise<void> {
  await db.transaction(async (tx) => {
    await tx
      .insert(probes)
      .values(PROBE_KINDS.map((kind) => ({ id: newId("probe"), tenantId, name: kind, kind, description: PROBE_KIND_SUMMARIES[kind] })))
      .onConflictDoNothing({ target: [probes.tenantId, probes.name] });
    const rows = await tx
      .select({ id: probes.id, name: probes.name, kind: probes.kind })
      .from(probes)
      .where(and(eq(probes.tenantId, tenantId), inArray(probes.name, [...PROBE_KINDS])));
    const builtIns = rows.filter((row) => row.name === row.kind);
    if (builtIns.length === 0) return;
    await tx
      .insert(probeVersions)
      .values(
        builtIns.map((probe) => {
          const params = probeParamsSchema(probe.kind).parse({}) as Record<string, unknown>;
          return { probeId: probe.id, tenantId, version: 1, specHash: specHash(probe.kind, params), params, createdBy: CATALOG_ACTOR };
        }),
      )
      // Version 1 may exist already (any conflict means it does): versions are never rewritten.
      .onConflictDoNothing();
  });
}
