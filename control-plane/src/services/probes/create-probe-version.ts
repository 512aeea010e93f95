import { and, eq, max } from "drizzle-orm";
import type { ProbeVersionView } from "@probepilot/shared";
import type { Db } from "../../db/client.ts";
import { probeVersions } from "../../db/schema.ts";
import { recordAudit, type Actor } from "../audit/record-audit.ts";
import { ServiceError } from "../errors.ts";
import { ensureProbeCatalog } from "./ensure-probe-catalog.ts";
import { findProbe } from "./find-probe.ts";
import { parseProbeParams } from "./parse-probe-params.ts";
import { toProbeVersionView } from "./probe-view.ts";
import { specHash } from "./spec-hash.ts";

export type CreateProbeVersionInput = {
  /** Probe name (`tcp_flows`) or id (`prb_…`). */
  probe: string;
  /** Parameters as the operator wrote them; omitted ones take the kind's defaults. */
  params: Record<string, unknown>;
  /** When given (a spec file carries it), it must be the probe's kind. */
  kind?: string;
};

/** A probe version, and whether this call made it (`false`: the same spec already had this version). */
export type CreatedProbeVersion = ProbeVersionView & { created: boolean };

/**
 * Create the next version of a probe from parameters checked against its kind's
 * schema. Versions are immutable and identified by their spec hash: creating a
 * spec that exists (also when written with its defaults spelled out) returns that
 * version with `created: false` and changes nothing. A new version is audited
 * (`probe.create_version`).
 */
export async function createProbeVersion(db: Db, who: Actor, input: CreateProbeVersionInput): Promise<CreatedProbeVersion> {
  await ensureProbeCatalog(db, who.tenantId);
  const probe = await findProbe(db, who.tenantId, input.probe);
  if (input.kind !== undefined && input.kind !== probe.kind) {
    throw new ServiceError("INVALID", `the spec says kind "${input.kind}" but probe "${probe.name}" is a ${probe.kind} probe; drop "kind" or pick a ${input.kind} probe`);
  }
  const params = parseProbeParams(probe.kind, input.params);
  const hash = specHash(probe.kind, params);

  return db.transaction(async (tx) => {
    // The probe row's lock serializes version allocation: max + 1 is then free, and a
    // concurrent call with the same spec waits here and finds this one's version.
    await findProbe(tx, who.tenantId, probe.id, { forUpdate: true });
    const [existing] = await tx
      .select()
      .from(probeVersions)
      .where(and(eq(probeVersions.probeId, probe.id), eq(probeVersions.tenantId, who.tenantId), eq(probeVersions.specHash, hash)))
      .limit(1);
    if (existing) return { ...toProbeVersionView(probe, existing), created: false };

    const [{ latest } = { latest: null }] = await tx
      .select({ latest: max(probeVersions.version) })
      .from(probeVersions)
      .where(eq(probeVersions.probeId, probe.id));
    const [row] = await tx
      .insert(probeVersions)
      .values({ probeId: probe.id, tenantId: who.tenantId, version: (latest ?? 0) + 1, specHash: hash, params, createdBy: who.actor })
      .returning();
    await recordAudit(tx, who, "probe.create_version", probe.id, { name: probe.name, kind: probe.kind, version: row!.version, specHash: hash, params });
    return { ...toProbeVersionView(probe, row!), created: true };
  });
}
