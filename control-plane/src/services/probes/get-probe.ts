import { and, desc, eq } from "drizzle-orm";
import type { ProbeVersionView } from "@probepilot/shared";
import type { DbOrTx } from "../../db/client.ts";
import { probeVersions } from "../../db/schema.ts";
import { ServiceError } from "../errors.ts";
import { ensureProbeCatalog } from "./ensure-probe-catalog.ts";
import { findProbe } from "./find-probe.ts";
import { toProbeVersionView, toProbeView, type ProbeView } from "./probe-view.ts";

/** A probe with all its versions, newest first. */
export type ProbeDetail = ProbeView & { versions: ProbeVersionView[] };

/** One probe of the caller's tenant by name or `prb_` id, with every version (newest first); NOT_FOUND names what exists. */
export async function getProbe(db: DbOrTx, tenantId: string, probeRef: string): Promise<ProbeDetail> {
  await ensureProbeCatalog(db, tenantId);
  const probe = await findProbe(db, tenantId, probeRef);
  const versions = await db
    .select()
    .from(probeVersions)
    .where(and(eq(probeVersions.probeId, probe.id), eq(probeVersions.tenantId, tenantId)))
    .orderBy(desc(probeVersions.version));
  return { ...toProbeView(probe), versions: versions.map((v) => toProbeVersionView(probe, v)) };
}

/**
 * One version of a probe (by name or `prb_` id) of the caller's tenant, the latest
 * when `version` is omitted. NOT_FOUND for an unknown probe (naming the ones that
 * exist) or version (naming the range there is). This is what a rollout pins.
 */
export async function getProbeVersion(db: DbOrTx, tenantId: string, probeRef: string, version?: number): Promise<ProbeVersionView> {
  await ensureProbeCatalog(db, tenantId);
  const probe = await findProbe(db, tenantId, probeRef);
  const [row] = await db
    .select()
    .from(probeVersions)
    .where(and(eq(probeVersions.probeId, probe.id), eq(probeVersions.tenantId, tenantId), version === undefined ? undefined : eq(probeVersions.version, version)))
    .orderBy(desc(probeVersions.version))
    .limit(1);
  if (row) return toProbeVersionView(probe, row);
  const [latest] = await db
    .select({ version: probeVersions.version })
    .from(probeVersions)
    .where(and(eq(probeVersions.probeId, probe.id), eq(probeVersions.tenantId, tenantId)))
    .orderBy(desc(probeVersions.version))
    .limit(1);
  const have = latest ? `its versions are v1–v${latest.version}` : "it has no versions yet";
  throw new ServiceError("NOT_FOUND", `probe "${probe.name}" has no version ${version}; ${have} (\`probepilot probes show ${probe.name}\` lists them)`);
}
