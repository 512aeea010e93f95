import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";

/** What an enrolled agent keeps on disk: who it is, for which tenant, and the key that proves it. */
export const AgentIdentitySchema = z.object({
  agentId: z.string().min(1),
  tenantId: z.string().min(1),
  agentKey: z.string().min(1),
  enrolledAt: z.string(),
});
export type AgentIdentity = z.infer<typeof AgentIdentitySchema>;

export const identityFile = (dataDir: string) => path.join(dataDir, "identity.json");

/** The stored identity, or null before the first enrollment. A corrupt file is an error, not a silent re-enroll. */
export async function loadIdentity(dataDir: string): Promise<AgentIdentity | null> {
  let text: string;
  try {
    text = await readFile(identityFile(dataDir), "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
  const parsed = AgentIdentitySchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new Error(`${identityFile(dataDir)} is not a valid agent identity; remove it to enroll again`);
  return parsed.data;
}

/** Write atomically (temp file + rename) with mode 0600: the key is a secret. */
export async function saveIdentity(dataDir: string, identity: AgentIdentity): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const file = identityFile(dataDir);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(identity, null, 2) + "\n", { mode: 0o600 });
  await rename(tmp, file);
}
