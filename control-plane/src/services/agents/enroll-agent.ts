import { and, eq, isNull, or, sql } from "drizzle-orm";
import { mergeLabels, newId, type AgentHello, type EnrollReply, type EnrollRequest } from "@probepilot/shared";
import type { Db } from "../../db/client.ts";
import { isUniqueViolation } from "../../db/pg-error.ts";
import { agents, enrollmentTokens } from "../../db/schema.ts";
import { hashSecret } from "../auth/secrets.ts";
import { recordAudit } from "../audit/record-audit.ts";
import { ServiceError } from "../errors.ts";
import type { AgentCredentialIssuer } from "./agent-credential-issuer.ts";

/** Columns a hello refreshes: the agent's facts, and it is online from now. */
export function helloFacts(hello: AgentHello) {
  return {
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
}

/**
 * Enroll a new agent with a per-tenant enrollment token and the public half of
 * the NKEY pair it made: the agent gets an id, its tenant and a user JWT for that
 * key (nothing secret: the seed never leaves the host). The token decides the
 * tenant; it must be unrevoked, unexpired and under its use limit.
 *
 * A retry of the same request (its reply was lost) gets the same agent and a new
 * JWT for the same key. The same `requestId` with another key is refused: a
 * replayed or altered request cannot take an identity over.
 */
export async function enrollAgent(db: Db, issuer: AgentCredentialIssuer, request: EnrollRequest): Promise<EnrollReply> {
  const { hello, publicKey } = request;
  const facts = helloFacts(hello);
  const agent = await db.transaction(async (tx) => {
    // Read without a lock: every agent of a fleet enrolls with the same token, and a row lock
    // taken here would serialize their whole transactions. The count is bumped last (below).
    const [token] = await tx
      .select()
      .from(enrollmentTokens)
      .where(and(eq(enrollmentTokens.tokenHash, hashSecret(request.enrollmentToken)), isNull(enrollmentTokens.revokedAt)))
      .limit(1);
    if (!token) throw new ServiceError("UNAUTHORIZED", "enrollment token is unknown or revoked: create one with `probepilot enroll-tokens create`");
    if (token.expiresAt && token.expiresAt.getTime() < Date.now()) {
      throw new ServiceError("UNAUTHORIZED", `enrollment token ${token.id} expired at ${token.expiresAt.toISOString()}: create a new one with \`probepilot enroll-tokens create\``);
    }
    // A retry of an enrollment whose reply was lost: the same agent, if it is the same key.
    const retry = async () => {
      const [earlier] = await tx
        .select()
        .from(agents)
        .where(and(eq(agents.tenantId, token.tenantId), eq(agents.enrollRequestId, request.requestId)))
        .for("update")
        .limit(1);
      if (!earlier) return null;
      if (earlier.natsPublicKey !== publicKey) {
        throw new ServiceError("CONFLICT", "this enrollment request was already used with another key: a replayed request cannot take over an agent; enroll with a new request");
      }
      if (earlier.revokedAt) throw new ServiceError("FORBIDDEN", `agent ${earlier.id} was revoked at ${earlier.revokedAt.toISOString()}; it cannot enroll again`);
      const [updated] = await tx.update(agents).set({ ...facts, labels: mergeLabels(hello.hostLabels, hello.userLabels, earlier.centralLabels) }).where(eq(agents.id, earlier.id)).returning();
      return updated!;
    };
    const earlier = await retry();
    if (earlier) return earlier;
    if (token.maxUses !== null && token.uses >= token.maxUses) {
      throw new ServiceError("UNAUTHORIZED", `enrollment token ${token.id} reached its use limit (${token.maxUses} agents): create one with \`probepilot enroll-tokens create --max-uses N\``);
    }
    const agentId = newId("agent");
    // A retry racing its own first attempt (a reply that timed out while the first
    // transaction was still running): the insert waits for that one, finds its row, and
    // this request takes the retry path instead of failing on the unique request id.
    let inserted;
    try {
      inserted = await tx
        .insert(agents)
        .values({
          id: agentId,
          tenantId: token.tenantId,
          ...facts,
          labels: mergeLabels(hello.hostLabels, hello.userLabels),
          natsPublicKey: publicKey,
          enrolledWith: token.id,
          enrollRequestId: request.requestId,
        })
        .onConflictDoNothing({ target: [agents.tenantId, agents.enrollRequestId] })
        .returning();
    } catch (error) {
      if (isUniqueViolation(error, "agents_nats_public_key_idx")) {
        throw new ServiceError("CONFLICT", "this public key belongs to another agent: every agent makes its own NKEY pair");
      }
      throw error;
    }
    if (inserted.length === 0) {
      const raced = await retry();
      if (raced) return raced;
      throw new ServiceError("UNAVAILABLE", "this enrollment request is being processed by another attempt; retry");
    }
    await recordAudit(tx, { tenantId: token.tenantId, actor: `enrollToken:${token.id}` }, "agent.enroll", agentId, { hostname: hello.hostname, publicKey });
    // Last, so the token's row is locked only until the commit; a revoke or the last allowed use that landed since the read wins.
    const counted = await tx
      .update(enrollmentTokens)
      .set({ uses: sql`${enrollmentTokens.uses} + 1` })
      .where(and(eq(enrollmentTokens.id, token.id), isNull(enrollmentTokens.revokedAt), or(isNull(enrollmentTokens.maxUses), sql`${enrollmentTokens.uses} < ${enrollmentTokens.maxUses}`)))
      .returning({ id: enrollmentTokens.id });
    if (counted.length === 0) throw new ServiceError("UNAUTHORIZED", `enrollment token ${token.id} was revoked or reached its use limit while this agent enrolled`);
    return inserted[0]!;
  });
  // After the commit: a failure here leaves an enrolled agent whose retry (same requestId) gets the JWT.
  const credential = await issuer.issueAgentJwt({ tenantId: agent.tenantId, agentId: agent.id, publicKey });
  await db.update(agents).set({ credsExpiresAt: new Date(credential.expiresAt) }).where(eq(agents.id, agent.id));
  return { agentId: agent.id, tenantId: agent.tenantId, ...credential, config: { centralLabels: agent.centralLabels, revision: agent.configRevision } };
}
