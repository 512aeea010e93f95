import { and, eq, sql } from "drizzle-orm";
import { LABELS_MAX_BYTES, LABELS_MAX_COUNT, labelSetSizeProblem, mergeLabels, type Labels } from "@probepilot/shared";
import type { Db } from "../../db/client.ts";
import { agents } from "../../db/schema.ts";
import { recordAudit, type Actor } from "../audit/record-audit.ts";
import { ServiceError, notFound } from "../errors.ts";
import { toAgentView, type AgentView } from "./agent-view.ts";
import type { AgentConfigPublisher } from "./agent-config-publisher.ts";

/**
 * Set central labels on an agent: `value` sets or overrides a label, `null` removes
 * the central label (the host or user label underneath, if any, shows again). The
 * resulting central set is held to the label-set limits before anything is written.
 * The row and the audit entry commit together; then the new config is published
 * to the agent (if that fails the agent still gets it: it reads its key on reconnect,
 * and the error is reported to the caller).
 */
export async function setAgentLabels(
  db: Db,
  publisher: AgentConfigPublisher,
  who: Actor,
  input: { id: string; labels: Record<string, string | null> },
): Promise<AgentView> {
  const row = await db.transaction(async (tx) => {
    const [current] = await tx
      .select()
      .from(agents)
      .where(and(eq(agents.id, input.id), eq(agents.tenantId, who.tenantId)))
      .for("update")
      .limit(1);
    if (!current) throw notFound("agent", input.id);
    const central: Labels = { ...current.centralLabels };
    for (const [key, value] of Object.entries(input.labels)) {
      if (value === null) delete central[key];
      else central[key] = value;
    }
    // The changes are bounded by their schema; the set they make must be too, or it would
    // be stored and then not reach the agent (its config message has a size limit).
    const tooBig = labelSetSizeProblem(central, LABELS_MAX_COUNT, LABELS_MAX_BYTES);
    if (tooBig !== null) {
      throw new ServiceError("INVALID", `central labels of agent "${current.id}" after these changes: ${tooBig}; remove some (a null value removes a label)`);
    }
    const [updated] = await tx
      .update(agents)
      .set({
        centralLabels: central,
        labels: mergeLabels(current.hostLabels, current.userLabels, central),
        configRevision: sql`${agents.configRevision} + 1`,
      })
      .where(eq(agents.id, current.id))
      .returning();
    await recordAudit(tx, who, "agent.setLabels", current.id, { changes: input.labels, before: current.centralLabels });
    return updated!;
  });
  await publisher.publishAgentConfig(who.tenantId, row.id, { centralLabels: row.centralLabels, revision: row.configRevision });
  return toAgentView(row);
}
