import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { formatCreds, parseCreds } from "@probepilot/shared/nkeys";
import { writeFileAtomic } from "../telemetry/atomic-file.ts";

/**
 * Who an enrolled agent is: its id, its tenant and the public half of the NKEY
 * pair it made. The secret half lives in `nats.creds` beside it.
 */
export const AgentIdentitySchema = z.object({
  agentId: z.string().min(1),
  tenantId: z.string().min(1),
  publicKey: z.string().regex(/^U[A-Z2-7]{55}$/),
  enrolledAt: z.string(),
});
export type AgentIdentity = z.infer<typeof AgentIdentitySchema>;

export const identityFile = (dataDir: string) => path.join(dataDir, "identity.json");
/** The standard NATS credentials file: the agent's user JWT and its NKEY seed (mode 0600). */
export const credsFile = (dataDir: string) => path.join(dataDir, "nats.creds");

export type StoredIdentity = { identity: AgentIdentity; creds: { jwt: string; seed: string } };

/**
 * The stored identity and credentials, or null before the first enrollment — and
 * also for an identity from before NKEY credentials (`identity.json` with an
 * `agentKey`), which must enroll again: `legacy` says so. A corrupt file is an
 * error, not a silent re-enroll.
 */
export async function loadIdentity(dataDir: string): Promise<(StoredIdentity & { legacy?: never }) | { legacy: true } | null> {
  const text = await readIfPresent(identityFile(dataDir));
  if (text === null) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new Error(`${identityFile(dataDir)} is not JSON; remove it to enroll again`);
  }
  if (typeof raw === "object" && raw !== null && "agentKey" in raw && !("publicKey" in raw)) return { legacy: true };
  const parsed = AgentIdentitySchema.safeParse(raw);
  if (!parsed.success) throw new Error(`${identityFile(dataDir)} is not a valid agent identity; remove it to enroll again`);
  const credsText = await readIfPresent(credsFile(dataDir));
  if (credsText === null) throw new Error(`${credsFile(dataDir)} is missing although ${identityFile(dataDir)} exists; remove both to enroll again`);
  return { identity: parsed.data, creds: parseCreds(credsText) };
}

/** Write the identity and the credentials, each atomically and readable by the owner only (creds first: an identity without them is refused). */
export async function saveIdentity(dataDir: string, stored: StoredIdentity): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await saveCreds(dataDir, stored.creds);
  await writeFileAtomic(identityFile(dataDir), JSON.stringify(stored.identity, null, 2) + "\n");
}

/** Replace `nats.creds` (a renewed JWT, the same seed). */
export async function saveCreds(dataDir: string, creds: { jwt: string; seed: string }): Promise<void> {
  await writeFileAtomic(credsFile(dataDir), formatCreds(creds.jwt, creds.seed));
}

async function readIfPresent(file: string): Promise<string | null> {
  try {
    return await readFile(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
}
