import type { AgentCredentialIssuer, IssuedCredential } from "../services/agents/agent-credential-issuer.ts";
import type { NatsMesh } from "./mesh.ts";
import { agentPermissions, simulatorPermissions } from "./trust/permissions.ts";

/** Agent credentials from the control plane's NATS trust chain (see {@link AgentCredentialIssuer}). */
export class NatsAgentCredentials implements AgentCredentialIssuer {
  readonly agentJwtTtlMs: number;

  constructor(
    private readonly mesh: NatsMesh,
    private readonly agentJwtTtlSec: number,
  ) {
    this.agentJwtTtlMs = agentJwtTtlSec * 1000;
  }

  async issueAgentJwt(agent: { tenantId: string; agentId: string; publicKey: string }): Promise<IssuedCredential> {
    // The account must be on the servers (and its KV buckets made) before the agent connects with this.
    await this.mesh.tenant(agent.tenantId);
    return this.mesh.trust.issueUser({
      account: { tenantId: agent.tenantId },
      name: agent.agentId,
      publicKey: agent.publicKey,
      permissions: agentPermissions(agent.tenantId, agent.agentId),
      ttlSec: this.agentJwtTtlSec,
    });
  }

  async issueSimulatorJwt(tenantId: string, publicKey: string, ttlSec: number): Promise<IssuedCredential> {
    await this.mesh.tenant(tenantId);
    return this.mesh.trust.issueUser({ account: { tenantId }, name: `simulator@${tenantId}`, publicKey, permissions: simulatorPermissions(tenantId), ttlSec });
  }

  revokeAgentKey(tenantId: string, publicKey: string, untilMs: number): Promise<void> {
    return this.mesh.revokeTenantUser(tenantId, publicKey, untilMs);
  }
}
