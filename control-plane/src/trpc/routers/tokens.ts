import { z } from "zod";
import { RoleSchema, idSchema } from "@probepilot/shared";
import { router, adminProcedure } from "../init.ts";
import { ExpiresInSecSchema, singleLineText } from "../input-schemas.ts";
import { createApiToken } from "../../services/tokens/create-api-token.ts";
import { listApiTokens } from "../../services/tokens/list-api-tokens.ts";
import { revokeApiToken } from "../../services/tokens/revoke-api-token.ts";

export const tokensRouter = router({
  create: adminProcedure
    .input(z.object({ role: RoleSchema, name: singleLineText({ min: 1, max: 100 }).default("api"), expiresInSec: ExpiresInSecSchema.optional() }))
    .mutation(({ ctx, input }) => createApiToken(ctx.db, ctx.principal, input)),
  list: adminProcedure.query(({ ctx }) => listApiTokens(ctx.db, ctx.principal.tenantId)),
  revoke: adminProcedure.input(z.object({ id: idSchema("apiToken") })).mutation(({ ctx, input }) => revokeApiToken(ctx.db, ctx.principal, input.id)),
});
