import { and, desc, eq } from "drizzle-orm";
import type { RolloutState, RolloutView } from "@probepilot/shared";
import type { DbOrTx } from "../../db/client.ts";
import { rollouts } from "../../db/schema.ts";
import { toRolloutView } from "./rollout-view.ts";

/** The tenant's rollouts, newest first, optionally in one state. */
export async function listRollouts(db: DbOrTx, tenantId: string, input: { state?: RolloutState | undefined; limit: number }): Promise<RolloutView[]> {
  const where = input.state ? and(eq(rollouts.tenantId, tenantId), eq(rollouts.state, input.state)) : eq(rollouts.tenantId, tenantId);
  const rows = await db.select().from(rollouts).where(where).orderBy(desc(rollouts.createdAt)).limit(input.limit);
  return Promise.all(rows.map((row) => toRolloutView(db, row)));
}
