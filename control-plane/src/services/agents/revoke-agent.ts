import { and, eq } from "drizzle-orm";
import type { Db } from "../../db/client.ts";
import { agents } from "../../db/schema.ts";
import type { Principal } from "../auth/authenticate.ts";
import { recordAudit } from "../audit/record-audit.ts";
import { notFound } from "../errors.ts";
import type { AgentCredentialIssuer } from "./agent-credential-issuer.ts";
import { toAgentView, type AgentView } from "./agent-view.ts";

/**
 * Revoke an agent: it is marked `revoked` (rollouts count it as gone, it gets no
 * new credentials), and its key goes on the tenant account's revocation list,
 * which the NATS servers apply at once: its connections are closed and it cannot
 * connect again. Audited. Calling it again pushes the revocation again (the
 * database change is done once), so a push that failed can be retried.
 */
export async function revokeAgent(db: Db, issuer: AgentCredentialIssuer, who: Principal, agentId: string): Promise<AgentView> {
  const row = await db.transaction(async (tx) => {
    const [current] = await tx.select().from(agents).where(and(eq(agents.id, agentId), eq(agents.tenantId, who.tenantId))).for("update").limit(1);
    if (!current) throw notFound("agent", agentId);
    if (current.revokedAt) return current;
    const [revoked] = await tx.update(agents).set({ status: "revoked", revokedAt: new Date() }).where(eq(agents.id, agentId)).returning();
    await recordAudit(tx, who, "agent.revoke", agentId, { hostname: current.hostname, publicKey: current.natsPublicKey });
    return revoked!;
  });
  if (row.natsPublicKey !== "") {
    // Until the newest JWT it was issued would have expired anyway (at least one lifetime from now).
    const until = Math.max(row.credsExpiresAt?.getTime() ?? 0, Date.now() + issuer.agentJwtTtlMs);
    await issuer.revokeAgentKey(row.tenantId, row.natsPublicKey, until);
  }
  return toAgentView(row);
}
