import type { DbHandle } from "../../db/client.ts";
import type { Logger } from "../../logger.ts";
import { NatsTrust } from "./nats-trust.ts";
import { secretBoxFromEnv } from "./secret-box.ts";

/** The NATS trust chain from the database, with the secret key the configuration names (see {@link secretBoxFromEnv}). */
export async function openNatsTrust(
  handle: DbHandle,
  env: { PROBEPILOT_SECRET_KEY?: string | undefined; PROBEPILOT_SECRET_KEY_PREVIOUS?: string | undefined; dataDir: string },
  log: Logger,
): Promise<NatsTrust> {
  const { box, source } = await secretBoxFromEnv(env);
  log.debug({ secretKey: source }, "opening the NATS trust chain");
  return NatsTrust.open(handle, box, log);
}
