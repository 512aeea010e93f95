import { z } from "zod";
import { AgentStatusSchema, LabelChangesSchema, NkeyUserPublicKeySchema, SelectorStringSchema, idSchema } from "@probepilot/shared";
import { router, protectedProcedure, operatorProcedure, adminProcedure } from "../init.ts";
import { listAgents } from "../../services/agents/list-agents.ts";
import { getAgent } from "../../services/agents/get-agent.ts";
import { setAgentLabels } from "../../services/agents/set-agent-labels.ts";
import { summarizeFleet } from "../../services/agents/summarize-fleet.ts";
import { revokeAgent } from "../../services/agents/revoke-agent.ts";
import { issueSimulatorCredentials } from "../../services/agents/issue-simulator-credentials.ts";

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

  /**
   * Revoke an agent's NATS credentials: the servers disconnect it at once and refuse
   * it from then on; it is marked `revoked` and rollouts count it as gone. Audited.
   * Again on a revoked agent: pushes the revocation to NATS again.
   */
  revoke: adminProcedure.input(z.object({ id: idSchema("agent") })).mutation(({ ctx, input }) => revokeAgent(ctx.db, ctx.credentials, ctx.principal, input.id)),

  /**
   * A NATS user JWT for the fleet simulator (a test tool) of the caller's tenant, for
   * the public key the caller made; `probepilot nats simulator-creds` wraps it into a
   * `.creds` file. It may speak for any agent of this tenant, nothing else.
   */
  simulatorCredentials: adminProcedure
    .input(z.object({ publicKey: NkeyUserPublicKeySchema, ttlSec: z.number().int().min(60).max(7 * 24 * 3600).default(24 * 3600) }))
    .mutation(({ ctx, input }) => issueSimulatorCredentials(ctx.db, ctx.credentials, ctx.principal, input)),
});
