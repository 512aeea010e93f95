import { chmod, writeFile } from "node:fs/promises";
import { NkeyPair, formatCreds } from "@probepilot/shared/nkeys";
import type { CommandContext } from "../command.ts";
import { UsageError } from "../command.ts";
import { parseDurationSec } from "../duration.ts";

/**
 * `nats simulator-creds --out FILE [--ttl 24h]`: NATS credentials for the fleet
 * simulator of the token's tenant. The key pair is made here and only its public
 * half goes to the control plane; the file (JWT + seed) is written with mode 0600.
 */
export async function natsSimulatorCreds(ctx: CommandContext): Promise<void> {
  const out = ctx.flags.out;
  if (!out) throw new UsageError("nats simulator-creds needs --out FILE (the .creds file to write, mode 0600)");
  const ttlSec = parseDurationSec(ctx.flags.ttl ?? "24h", "--ttl");
  const key = NkeyPair.create("user");
  const issued = await ctx.api.agents.simulatorCredentials.mutate({ publicKey: key.getPublicKey(), ttlSec });
  await writeFile(out, formatCreds(issued.jwt, key.seedText()), { mode: 0o600 });
  await chmod(out, 0o600);
  if (ctx.json) return ctx.print({ file: out, publicKey: key.getPublicKey(), expiresAt: new Date(issued.expiresAt).toISOString() });
  ctx.out(`wrote ${out} (mode 0600): simulator credentials for this tenant, expiring ${new Date(issued.expiresAt).toISOString()}\nrun: probepilot-agent simulate --creds ${out} --agents 100 --enroll-token …`);
}
