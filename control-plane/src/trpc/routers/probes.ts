import { z } from "zod";
import { MAX_PROBE_VERSION, ProbeParamsInputSchema } from "@probepilot/shared";
import { router, protectedProcedure, operatorProcedure } from "../init.ts";
import { singleLineText } from "../input-schemas.ts";
import { listProbes } from "../../services/probes/list-probes.ts";
import { getProbe, getProbeVersion } from "../../services/probes/get-probe.ts";
import { createProbeVersion } from "../../services/probes/create-probe-version.ts";
import { getProbeParamsSchema } from "../../services/probes/get-probe-params-schema.ts";

/** A probe by name (`tcp_flows`) or id (`prb_…`). Unknown ones are the service's NOT_FOUND, which names what exists. */
const ProbeRefSchema = singleLineText({ min: 1, max: 64 });

/** A built-in kind (`tcp_flows`); checked by the service, so that a wrong one gets the list of kinds. */
const KindRefSchema = singleLineText({ min: 1, max: 64 });

/** At most 32 parameters, counted before they are read; their values are the kind's schema's to check. */
const ParamsSchema = ProbeParamsInputSchema;

export const probesRouter = router({
  /** The tenant's probes (the built-in catalog, present from the start), each with its latest version. */
  list: protectedProcedure.query(({ ctx }) => listProbes(ctx.db, ctx.principal.tenantId)),

  /** One probe with all its versions, newest first. */
  get: protectedProcedure.input(z.object({ probe: ProbeRefSchema })).query(({ ctx, input }) => getProbe(ctx.db, ctx.principal.tenantId, input.probe)),

  /** One version (the latest when `version` is omitted): what a rollout would pin. */
  getVersion: protectedProcedure
    .input(z.object({ probe: ProbeRefSchema, version: z.number().int("version is a whole number such as 3").positive("versions start at 1").max(MAX_PROBE_VERSION, `versions are at most ${MAX_PROBE_VERSION}`).optional() }))
    .query(({ ctx, input }) => getProbeVersion(ctx.db, ctx.principal.tenantId, input.probe, input.version)),

  /**
   * A new immutable version from parameters checked against the kind's schema;
   * the same spec again returns its version with `created: false`.
   */
  createVersion: operatorProcedure
    .input(z.object({ probe: ProbeRefSchema, params: ParamsSchema.default({}), kind: KindRefSchema.optional() }))
    .mutation(({ ctx, input }) => createProbeVersion(ctx.db, ctx.principal, input)),

  /** JSON Schema of a kind's parameters (descriptions, defaults, bounds) for generated forms. */
  paramsSchema: protectedProcedure.input(z.object({ kind: KindRefSchema })).query(({ input }) => getProbeParamsSchema(input.kind)),
});
