import { z } from "zod";
import { idSchema } from "@probepilot/shared";
import { router, adminProcedure } from "../init.ts";
import { ExpiresInSecSchema, singleLineText } from "../input-schemas.ts";
import { createEnrollmentToken } from "../../services/enroll-tokens/create-enrollment-token.ts";
import { listEnrollmentTokens } from "../../services/enroll-tokens/list-enrollment-tokens.ts";
import { revokeEnrollmentToken } from "../../services/enroll-tokens/revoke-enrollment-token.ts";

export const enrollTokensRouter = router({
  create: adminProcedure
    .input(
      z
        .object({
          description: singleLineText({ max: 200 }).optional(),
          /** Default 24 h. */
          expiresInSec: ExpiresInSecSchema.optional(),
          /** Agents it may enroll; default 1,000. */
          maxUses: z.number().int("must be a whole number").min(1, "must be at least 1").max(1_000_000, "must be at most 1000000").optional(),
        })
        .default({}),
    )
    .mutation(({ ctx, input }) => createEnrollmentToken(ctx.db, ctx.principal, input)),
  list: adminProcedure.query(({ ctx }) => listEnrollmentTokens(ctx.db, ctx.principal.tenantId)),
  revoke: adminProcedure.input(z.object({ id: idSchema("enrollToken") })).mutation(({ ctx, input }) => revokeEnrollmentToken(ctx.db, ctx.principal, input.id)),
});
