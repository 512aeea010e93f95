import { and, eq } from "drizzle-orm";
import { renewChallenge, type AgentJwt, type RenewRequest } from "@probepilot/shared";
import { NkeyPair } from "@probepilot/shared/nkeys";
import type { Db } from "../../db/client.ts";
import { agents, type AgentRow } from "../../db/schema.ts";
import { ServiceError } from "../errors.ts";
import type { AgentCredentialIssuer } from "./agent-credential-issuer.ts";

/** How far an agent's clock may be from the control plane's for a signed renewal. */
export const RENEW_CLOCK_SKEW_MS = 5 * 60_000;

/**
 * A fresh JWT for an agent's own key, asked on its authenticated NATS connection
 * before the current one expires (the subject names the agent; the server lets
 * only that agent publish there). A revoked agent gets none.
 */
export async function renewAgentCredentials(db: Db, issuer: AgentCredentialIssuer, who: { tenantId: string; agentId: string }): Promise<AgentJwt> {
  const [row] = await db.select().from(agents).where(and(eq(agents.id, who.agentId), eq(agents.tenantId, who.tenantId))).limit(1);
  return issueFor(db, issuer, row, who.agentId);
}

/**
 * A fresh JWT for an agent whose JWT already expired (it was off longer than the
 * JWT lived, so NATS refuses it): it proves it holds its seed by signing
 * `renewChallenge(agentId, issuedAt)` with it, at most {@link RENEW_CLOCK_SKEW_MS}
 * from now. The reply is a JWT for the agent's own key, useless without the seed,
 * so a replayed proof gains nothing.
 */
export async function renewAgentCredentialsWithProof(db: Db, issuer: AgentCredentialIssuer, request: RenewRequest): Promise<AgentJwt> {
  if (Math.abs(Date.now() - request.issuedAt) > RENEW_CLOCK_SKEW_MS) {
    throw new ServiceError("UNAUTHORIZED", `renewal proof issued at ${new Date(request.issuedAt).toISOString()} is more than 5 minutes from the control plane's clock (${new Date().toISOString()}): check the host's clock`);
  }
  const [row] = await db.select().from(agents).where(eq(agents.id, request.agentId)).limit(1);
  const proven =
    row !== undefined &&
    row.natsPublicKey !== "" &&
    NkeyPair.fromPublicKey(row.natsPublicKey).verify(new TextEncoder().encode(renewChallenge(request.agentId, request.issuedAt)), Buffer.from(request.signature, "base64url"));
  // One answer for an unknown agent and a bad signature: neither says which agent ids exist.
  if (!proven) throw new ServiceError("UNAUTHORIZED", `agent "${request.agentId}" is unknown or the proof is not signed with its key: remove its identity and enroll again`);
  return issueFor(db, issuer, row, request.agentId);
}

async function issueFor(db: Db, issuer: AgentCredentialIssuer, row: AgentRow | undefined, agentId: string): Promise<AgentJwt> {
  if (!row || row.natsPublicKey === "") throw new ServiceError("UNAUTHORIZED", `agent "${agentId}" is unknown to the control plane or has no NATS key: remove its identity and enroll again`);
  if (row.revokedAt) throw new ServiceError("FORBIDDEN", `agent "${agentId}" was revoked at ${row.revokedAt.toISOString()}; it gets no new credentials`);
  const credential = await issuer.issueAgentJwt({ tenantId: row.tenantId, agentId: row.id, publicKey: row.natsPublicKey });
  await db.update(agents).set({ credsExpiresAt: new Date(credential.expiresAt) }).where(eq(agents.id, row.id));
  return credential;
}
