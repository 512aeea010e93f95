import { z } from "zod";
import { MAX_PROBE_VERSION, MAX_WAVES, RolloutAgentStateSchema, RolloutStateSchema, RolloutStrategySchema, SelectorStringSchema, WavesSchema, idSchema } from "@probepilot/shared";
import { router, protectedProcedure, operatorProcedure } from "../init.ts";
import { previewRollout } from "../../services/rollouts/preview-rollout.ts";
import { createRollout } from "../../services/rollouts/create-rollout.ts";
import { listRollouts } from "../../services/rollouts/list-rollouts.ts";
import { getRollout } from "../../services/rollouts/get-rollout.ts";
import { listRolloutAgents } from "../../services/rollouts/list-rollout-agents.ts";
import { rolloutHistory } from "../../services/rollouts/rollout-history.ts";
import { pauseRollout } from "../../services/rollouts/pause-rollout.ts";
import { resumeRollout } from "../../services/rollouts/resume-rollout.ts";
import { promoteRollout } from "../../services/rollouts/promote-rollout.ts";
import { abortRollout } from "../../services/rollouts/abort-rollout.ts";
import { rollbackRollout } from "../../services/rollouts/rollback-rollout.ts";
import { watchRollout } from "../../services/rollouts/watch-rollout.ts";
import { DEFAULT_ANNOTATIONS, MAX_ANNOTATIONS, listRolloutAnnotations } from "../../services/rollouts/list-rollout-annotations.ts";
import { singleLineText, UnixMs } from "../input-schemas.ts";
import { mapStreamErrors } from "../error-adapter.ts";

/** A probe by name (`tcp_flows`) or id (`prb_…`). */
const ProbeRefSchema = z.string().min(1, "name a probe, e.g. tcp_flows (probepilot probes list)").max(64).regex(/^[a-z0-9_]+$/, "a probe is named like tcp_flows (lowercase letters, digits, _) or by its prb_ id");
const VersionSchema = z.number().int().positive("probe versions start at 1").max(MAX_PROBE_VERSION, `probe versions are at most ${MAX_PROBE_VERSION}`);
const RolloutIdSchema = idSchema("rollout");
const ActionInputSchema = z.object({ id: RolloutIdSchema, reason: singleLineText({ min: 1, max: 500 }).optional() });

export const rolloutsRouter = router({
  /** The matching agents in total and per wave, and the canary strata; `rolloutId` makes `create` use the same waves. */
  preview: protectedProcedure
    .input(z.object({ probe: ProbeRefSchema, version: VersionSchema.optional(), selector: SelectorStringSchema, waves: WavesSchema.optional(), rolloutId: RolloutIdSchema.optional() }))
    .query(({ ctx, input }) => previewRollout(ctx.db, ctx.principal.tenantId, input)),

  create: operatorProcedure
    .input(z.object({ probe: ProbeRefSchema, version: VersionSchema.optional(), selector: SelectorStringSchema, strategy: RolloutStrategySchema.optional(), rolloutId: RolloutIdSchema.optional() }))
    .mutation(({ ctx, input }) => createRollout(ctx.db, ctx.principal, input)),

  list: protectedProcedure
    .input(z.object({ state: RolloutStateSchema.optional(), limit: z.number().int().min(1).max(500).default(50) }).default({ limit: 50 }))
    .query(({ ctx, input }) => listRollouts(ctx.db, ctx.principal.tenantId, input)),

  get: protectedProcedure.input(z.object({ id: RolloutIdSchema })).query(({ ctx, input }) => getRollout(ctx.db, ctx.principal.tenantId, input.id)),

  agents: protectedProcedure
    .input(
      z.object({
        id: RolloutIdSchema,
        state: RolloutAgentStateSchema.optional(),
        wave: z.number().int().min(0).max(MAX_WAVES - 1, `waves are numbered from 0 to ${MAX_WAVES - 1}`).optional(),
        limit: z.number().int().min(1).max(1000).default(100),
        cursor: idSchema("agent").optional(),
      }),
    )
    .query(({ ctx, input }) => listRolloutAgents(ctx.db, ctx.principal.tenantId, input)),

  /** The audit trail of the rollout: every transition with its actor (an operator or `engine`). */
  history: protectedProcedure
    .input(z.object({ id: RolloutIdSchema, limit: z.number().int().min(1).max(5000).default(1000) }))
    .query(({ ctx, input }) => rolloutHistory(ctx.db, ctx.principal.tenantId, input)),

  /**
   * Rollout transitions (created, wave started, paused, rolled back, completed, …) in
   * `[from, to)` of the rollouts that touched agents matching `agentSelector`, oldest
   * first, for drawing on time charts; `agents` says how many of those agents each
   * rollout touched. More than `limit`: the newest are kept.
   */
  annotations: protectedProcedure
    .input(
      z
        .object({
          agentSelector: SelectorStringSchema.optional(),
          from: UnixMs("from"),
          to: UnixMs("to"),
          limit: z
            .number({ error: "limit must be a number" })
            .int("limit must be a whole number")
            .min(1, "limit must be at least 1")
            .max(MAX_ANNOTATIONS, `limit must be at most ${MAX_ANNOTATIONS}`)
            .default(DEFAULT_ANNOTATIONS),
        })
        .refine((i) => i.to > i.from, { message: "to must be after from", path: ["to"] }),
    )
    .query(({ ctx, input }) => listRolloutAnnotations(ctx.db, ctx.principal.tenantId, input)),

  pause: operatorProcedure.input(ActionInputSchema).mutation(({ ctx, input }) => pauseRollout(ctx.db, ctx.principal, input)),
  resume: operatorProcedure.input(ActionInputSchema).mutation(({ ctx, input }) => resumeRollout(ctx.db, ctx.principal, input)),
  promote: operatorProcedure.input(ActionInputSchema).mutation(({ ctx, input }) => promoteRollout(ctx.db, ctx.principal, input)),
  abort: operatorProcedure.input(ActionInputSchema).mutation(({ ctx, input }) => abortRollout(ctx.db, ctx.principal, input)),
  rollback: operatorProcedure.input(ActionInputSchema).mutation(({ ctx, input }) => rollbackRollout(ctx.db, ctx.principal, input)),

  /** The rollout now and at every change (SSE): what `rollout status --watch` and the UI draw. */
  watch: protectedProcedure
    .input(z.object({ id: RolloutIdSchema }))
    .subscription(({ ctx, input, signal }) => mapStreamErrors(watchRollout(ctx.db, ctx.rolloutSignals, ctx.principal.tenantId, input.id, ctx.streamSignal ?? signal ?? new AbortController().signal))),
});
