import { desc, eq, sql } from "drizzle-orm";
import type { Db } from "../../db/client.ts";
import { probeVersions, probes } from "../../db/schema.ts";
import { ensureProbeCatalog } from "./ensure-probe-catalog.ts";
import { byCatalogOrder, toProbeView, type ProbeView } from "./probe-view.ts";

/** A probe in a listing: its latest version and how many it has. */
export type ProbeListItem = ProbeView & {
  latest: { version: number; specHash: string; createdAt: string } | null;
  versionCount: number;
};

/** The caller's tenant's probes (the built-in catalog first, in its documented order), each with its latest version. */
export async function listProbes(db: Db, tenantId: string): Promise<ProbeListItem[]> {
  await ensureProbeCatalog(db, tenantId);
  const [rows, latest] = await Promise.all([
    db.select().from(probes).where(eq(probes.tenantId, tenantId)),
    // One row per probe, its newest version; the window count runs before DISTINCT ON thins the rows.
    db
      .selectDistinctOn([probeVersions.probeId], {
        probeId: probeVersions.probeId,
        version: probeVersions.version,
        specHash: probeVersions.specHash,
        createdAt: probeVersions.createdAt,
        count: sql<number>`count(*) over (partition by ${probeVersions.probeId})`.mapWith(Number),
      })
      .from(probeVersions)
      .where(eq(probeVersions.tenantId, tenantId))
      .orderBy(probeVersions.probeId, desc(probeVersions.version)),
  ]);
  const latestByProbe = new Map(latest.map((v) => [v.probeId, v]));
  return rows
    .sort((a, b) => byCatalogOrder(a.name, b.name))
    .map((row) => {
      const v = latestByProbe.get(row.id);
      return {
        ...toProbeView(row),
        latest: v ? { version: v.version, specHash: v.specHash, createdAt: v.createdAt.toISOString() } : null,
        versionCount: v?.count ?? 0,
      };
    });
}
