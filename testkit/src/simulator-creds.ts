import { NkeyPair } from "@probepilot/shared/nkeys";
import type { Harness } from "./control-plane-harness.ts";

/**
 * Credentials for the fleet simulator of the token's tenant, made the way
 * `probepilot nats simulator-creds` makes them: a key made here, a JWT for it
 * from the control plane (`agents.simulatorCredentials`).
 */
export async function simulatorCreds(h: Harness, token = h.adminToken): Promise<{ jwt: string; seed: string }> {
  const key = NkeyPair.create("user");
  const { jwt } = await h.client(token).agents.simulatorCredentials.mutate({ publicKey: key.getPublicKey() });
  return { jwt, seed: key.seedText() };
}
