import { and, eq } from "drizzle-orm";
import type { RolloutView } from "@probepilot/shared";
import type { DbOrTx } from "../../db/client.ts";
import { rollouts, type RolloutRow } from "../../db/schema.ts";
import { ServiceError } from "../errors.ts";
import { toRolloutView } from "./rollout-view.ts";

/** A rollout's row in the caller's tenant, or NOT_FOUND. */
export async function findRollout(db: DbOrTx, tenantId: string, id: string): Promise<RolloutRow> {
  const [row] = await db.select().from(rollouts).where(and(eq(rollouts.tenantId, tenantId), eq(rollouts.id, id))).limit(1);
  if (!row) throw new ServiceError("NOT_FOUND", `rollout "${id}" not found; list rollouts with \`probepilot rollout list\``);
  return row;
}

export async function getRollout(db: DbOrTx, tenantId: string, id: string): Promise<RolloutView> {
  return toRolloutView(db, await findRollout(db, tenantId, id));
}
