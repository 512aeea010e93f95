import { z } from "zod";
import { AgentStatusSchema, LabelChangesSchema, SelectorStringSchema, idSchema } from "@probepilot/shared";
import { router, protectedProcedure, operatorProcedure } from "../init.ts";
import { listAgents } from "../../services/agents/list-agents.ts";
import { getAgent } from "../../services/agents/get-agent.ts";
import { setAgentLabels } from "../../services/agents/set-agent-labels.ts";
import { summarizeFleet } from "../../services/agents/summarize-fleet.ts";

export const agentsRouter = router({
  /** Agents matching a selector and status, paginated with an opaque cursor. */
  list: protectedProcedure
    .input(
      z
        .object({
          selector: SelectorStringSchema.optional(),
          status: AgentStatusSchema.optional(),
          limit: z.number().int().min(1).max(1000).default(100),
          /** The last id of the previous page (its `nextCursor`). */
          cursor: idSchema("agent").optional(),
        })
        .default({ limit: 100 }),
    )
    .query(({ ctx, input }) => listAgents(ctx.db, ctx.principal.tenantId, input)),

  /**
   * The fleet at a glance (Mission Control): agents by status and kernel (top 10),
   * the online agents' probes (total, running, failed) and the 20 newest failures,
   * from probe reports and from rollouts.
   */
  summary: protectedProcedure
    .input(z.object({}).default({}))
    .query(({ ctx }) => summarizeFleet(ctx.db, ctx.principal.tenantId)),

  get: protectedProcedure.input(z.object({ id: idSchema("agent") })).query(({ ctx, input }) => getAgent(ctx.db, ctx.principal.tenantId, input.id)),

  /** Central labels: a value sets or overrides, `null` removes. They reach the agent through its config key. */
  setLabels: operatorProcedure
    .input(z.object({ id: idSchema("agent"), labels: LabelChangesSchema }))
    .mutation(({ ctx, input }) => setAgentLabels(ctx.db, ctx.agentConfig, ctx.principal, input)),
});
