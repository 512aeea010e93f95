/** A user JWT and when it expires (ms since the epoch). */
export type IssuedCredential = { jwt: string; expiresAt: number };

/**
 * How services hand out and take back NATS credentials. The NATS implementation
 * (`nats/nats-agent-credentials.ts`) signs user JWTs with the tenant account's
 * signing key and pushes revocations to the servers.
 */
export interface AgentCredentialIssuer {
  /** Lifetime of an agent's JWT. */
  readonly agentJwtTtlMs: number;
  /** A JWT for the agent's own public key, allowing only the agent's own subjects; the tenant's account is made ready first. */
  issueAgentJwt(agent: { tenantId: string; agentId: string; publicKey: string }): Promise<IssuedCredential>;
  /** A JWT for the fleet simulator of one tenant (test tool: it may speak for any agent of that tenant). */
  issueSimulatorJwt(tenantId: string, publicKey: string, ttlSec: number): Promise<IssuedCredential>;
  /** Refuse every JWT of `publicKey` issued so far; the servers disconnect its connections. */
  revokeAgentKey(tenantId: string, publicKey: string, untilMs: number): Promise<void>;
}
