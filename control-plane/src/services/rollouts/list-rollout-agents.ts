import { sql } from "drizzle-orm";
import type { RolloutAgentState, RolloutAgentView, RolloutMembership } from "@probepilot/shared";
import type { DbOrTx } from "../../db/client.ts";
import { findRollout } from "./get-rollout.ts";

export type ListRolloutAgentsInput = { id: string; state?: RolloutAgentState | undefined; wave?: number | undefined; limit: number; cursor?: string | undefined };

/** A rollout's agents (wave, state, how they came in), keyset-paginated by agent id. */
export async function listRolloutAgents(db: DbOrTx, tenantId: string, input: ListRolloutAgentsInput): Promise<{ items: RolloutAgentView[]; nextCursor: string | null }> {
  const row = await findRollout(db, tenantId, input.id);
  const rows = await db.execute<{ agent_id: string; hostname: string | null; wave: number; state: RolloutAgentState; membership: RolloutMembership; online: boolean; error: string | null; updated_at: Date | string }>(sql`
    select ra.agent_id, a.hostname, ra.wave, ra.state, ra.membership, coalesce(a.status = 'online', false) as online, ra.error, ra.updated_at
    from rollout_agents ra left join agents a on a.id = ra.agent_id
    where ra.rollout_id = ${row.id}
      ${input.state ? sql`and ra.state = ${input.state}` : sql``}
      ${input.wave !== undefined ? sql`and ra.wave = ${input.wave}` : sql``}
      ${input.cursor ? sql`and ra.agent_id > ${input.cursor}` : sql``}
    order by ra.agent_id
    limit ${input.limit + 1}`);
  const page = [...rows].slice(0, input.limit);
  return {
    items: page.map((r) => ({
      agentId: r.agent_id,
      hostname: r.hostname ?? "",
      wave: r.wave,
      state: r.state,
      membership: r.membership,
      online: r.online,
      error: r.error,
      attemptedVersion: row.version,
      updatedAt: new Date(r.updated_at).toISOString(),
    })),
    nextCursor: rows.length > input.limit ? page[page.length - 1]!.agent_id : null,
  };
}
