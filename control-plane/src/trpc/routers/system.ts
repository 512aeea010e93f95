import { router, protectedProcedure } from "../init.ts";

export const systemRouter = router({
  /** Who the token belongs to: tenant, role and actor name. */
  whoami: protectedProcedure.query(({ ctx }) => ctx.principal),
});
