import type { Principal } from "../auth/authenticate.ts";
import type { Db } from "../../db/client.ts";
import { recordAudit } from "../audit/record-audit.ts";
import type { AgentCredentialIssuer, IssuedCredential } from "./agent-credential-issuer.ts";

/**
 * A NATS user JWT for the fleet simulator of the caller's tenant, for a key the
 * simulator's operator made (`probepilot nats simulator-creds` makes it locally:
 * the seed never crosses the API). It may speak for any agent of this tenant and
 * nothing outside it: a test tool, audited.
 */
export async function issueSimulatorCredentials(db: Db, issuer: AgentCredentialIssuer, who: Principal, input: { publicKey: string; ttlSec: number }): Promise<IssuedCredential> {
  const issued = await issuer.issueSimulatorJwt(who.tenantId, input.publicKey, input.ttlSec);
  await recordAudit(db, who, "nats.simulatorCredentials", input.publicKey, { expiresAt: new Date(issued.expiresAt).toISOString() });
  return issued;
}
