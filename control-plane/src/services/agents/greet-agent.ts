import { and, eq } from "drizzle-orm";
import { mergeLabels, type AgentConfig, type AgentHello } from "@probepilot/shared";
import type { Db } from "../../db/client.ts";
import { agents } from "../../db/schema.ts";
import { recordAudit } from "../audit/record-audit.ts";
import { ServiceError } from "../errors.ts";
import { helloFacts } from "./enroll-agent.ts";

/**
 * An enrolled agent says hello on its authenticated NATS connection (every start
 * and reconnect): its host facts are refreshed, it is online, and it gets its
 * central config. Who it is comes from the subject, which only that agent may
 * publish on (the NATS server enforces it).
 */
export async function greetAgent(db: Db, who: { tenantId: string; agentId: string }, hello: AgentHello): Promise<AgentConfig> {
  return db.transaction(async (tx) => {
    const [row] = await tx.select().from(agents).where(and(eq(agents.id, who.agentId), eq(agents.tenantId, who.tenantId))).for("update").limit(1);
    if (!row) throw new ServiceError("UNAUTHORIZED", `agent "${who.agentId}" is unknown to the control plane: remove its identity and enroll again`);
    if (row.revokedAt) throw new ServiceError("FORBIDDEN", `agent "${who.agentId}" was revoked at ${row.revokedAt.toISOString()}`);
    await tx
      .update(agents)
      .set({ ...helloFacts(hello), labels: mergeLabels(hello.hostLabels, hello.userLabels, row.centralLabels) })
      .where(eq(agents.id, row.id));
    await recordAudit(tx, { tenantId: row.tenantId, actor: `agent:${row.id}` }, "agent.hello", row.id, { hostname: hello.hostname, agentVersion: hello.agentVersion });
    return { centralLabels: row.centralLabels, revision: row.configRevision };
  });
}
