import { and, eq, isNull, sql } from "drizzle-orm";
import { mergeLabels, newId, type EnrollReply, type EnrollRequest } from "@probepilot/shared";
import type { Db } from "../../db/client.ts";
import { agents, enrollmentTokens } from "../../db/schema.ts";
import { hashSecret, newSecret, secretMatches } from "../auth/secrets.ts";
import { recordAudit } from "../audit/record-audit.ts";
import { ServiceError } from "../errors.ts";

type EnrollOk = Extract<EnrollReply, { ok: true }>;

/**
 * Enroll a new agent with an enrollment token, or re-identify an enrolled one by
 * its id and key. Either way the agent's host facts are refreshed and it is
 * online from this moment. The enrollment token decides the tenant.
 */
export async function enrollAgent(db: Db, request: EnrollRequest): Promise<EnrollOk> {
  const { hello } = request;
  const facts = {
    hostname: hello.hostname,
    hostLabels: hello.hostLabels,
    userLabels: hello.userLabels,
    agentVersion: hello.agentVersion,
    kernel: hello.kernel,
    arch: hello.arch,
    os: hello.os,
    capabilities: hello.capabilities,
    status: "online" as const,
    lastSeenAt: new Date(),
  };

  if ("agentId" in request) {
    return db.transaction(async (tx) => {
      const [row] = await tx.select().from(agents).where(eq(agents.id, request.agentId)).for("update").limit(1);
      if (!row || !secretMatches(request.agentKey, row.agentKeyHash)) {
        throw new ServiceError("UNAUTHORIZED", `agent "${request.agentId}" is unknown or its key does not match: remove its identity file and enroll again`);
      }
      const [updated] = await tx
        .update(agents)
        .set({ ...facts, labels: mergeLabels(hello.hostLabels, hello.userLabels, row.centralLabels) })
        .where(eq(agents.id, row.id))
        .returning();
      await recordAudit(tx, { tenantId: row.tenantId, actor: `agent:${row.id}` }, "agent.reidentify", row.id, { hostname: hello.hostname, agentVersion: hello.agentVersion });
      return { ok: true, agentId: row.id, tenantId: row.tenantId, config: { centralLabels: updated!.centralLabels, revision: updated!.configRevision } };
    });
  }

  return db.transaction(async (tx) => {
    // Read without a lock: every agent of a fleet enrolls with the same token, and a row lock
    // taken here would serialize their whole transactions. The count is bumped last (below).
    const [token] = await tx
      .select()
      .from(enrollmentTokens)
      .where(and(eq(enrollmentTokens.tokenHash, hashSecret(request.enrollmentToken)), isNull(enrollmentTokens.revokedAt)))
      .limit(1);
    if (!token) throw new ServiceError("UNAUTHORIZED", "enrollment token is unknown or revoked: create one with `probepilot enroll-tokens create`");
    if (token.expiresAt && token.expiresAt.getTime() < Date.now()) {
      throw new ServiceError("UNAUTHORIZED", `enrollment token ${token.id} expired at ${token.expiresAt.toISOString()}`);
    }
    const agentKey = newSecret("ppk");
    // A retry of an enrollment whose reply was lost: same agent, a fresh key (the first one
    // never reached the agent). Only the holder of the random requestId can ask for this.
    const retry = async () => {
      const [retried] = await tx
        .update(agents)
        .set({ ...facts, labels: mergeLabels(hello.hostLabels, hello.userLabels), agentKeyHash: hashSecret(agentKey) })
        .where(and(eq(agents.tenantId, token.tenantId), eq(agents.enrollRequestId, request.requestId)))
        .returning();
      return retried ? ({ ok: true, agentId: retried.id, tenantId: retried.tenantId, agentKey, config: { centralLabels: retried.centralLabels, revision: retried.configRevision } } as const) : null;
    };
    const earlier = await retry();
    if (earlier) return earlier;
    const agentId = newId("agent");
    // A retry racing its own first attempt (a reply that timed out while the first
    // transaction was still running): the insert waits for that one, finds its row, and
    // this request takes the retry path instead of failing on the unique request id.
    const inserted = await tx
      .insert(agents)
      .values({
        id: agentId,
        tenantId: token.tenantId,
        ...facts,
        labels: mergeLabels(hello.hostLabels, hello.userLabels),
        agentKeyHash: hashSecret(agentKey),
        enrolledWith: token.id,
        enrollRequestId: request.requestId,
      })
      .onConflictDoNothing({ target: [agents.tenantId, agents.enrollRequestId] })
      .returning({ id: agents.id });
    if (inserted.length === 0) {
      const raced = await retry();
      if (raced) return raced;
      throw new ServiceError("UNAVAILABLE", "this enrollment request is being processed by another attempt; retry");
    }
    await recordAudit(tx, { tenantId: token.tenantId, actor: `enrollToken:${token.id}` }, "agent.enroll", agentId, { hostname: hello.hostname });
    // Last, so the token's row is locked only until the commit; a revoke that landed since the read wins.
    const counted = await tx
      .update(enrollmentTokens)
      .set({ uses: sql`${enrollmentTokens.uses} + 1` })
      .where(and(eq(enrollmentTokens.id, token.id), isNull(enrollmentTokens.revokedAt)))
      .returning({ id: enrollmentTokens.id });
    if (counted.length === 0) throw new ServiceError("UNAUTHORIZED", `enrollment token ${token.id} was revoked while this agent enrolled`);
    return { ok: true, agentId, tenantId: token.tenantId, agentKey, config: { centralLabels: {}, revision: 0 } };
  });
}
