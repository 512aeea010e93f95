import { chmod, mkdir, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { eq } from "drizzle-orm";
import { newId } from "@probepilot/shared";
import { withAdvisoryLock, type DbHandle } from "../../db/client.ts";
import { tenants } from "../../db/schema.ts";
import { createApiToken } from "../tokens/create-api-token.ts";

export const DEFAULT_TENANT_NAME = "default";

export const adminTokenFile = (dataDir: string) => path.join(dataDir, "admin-token");

/**
 * First start: create the default tenant and a bootstrap admin token, written with
 * mode 0600 to `<dataDir>/admin-token` and returned so the caller prints it once.
 * The file is written before the transaction commits: if writing fails nothing is
 * created and the next start tries again (a token that exists only in the database
 * would be lost for good). Later starts, or a second control plane racing this
 * one, find the tenant and do nothing.
 */
export async function bootstrapIfEmpty(handle: DbHandle, dataDir: string): Promise<{ token: string; file: string } | null> {
  return withAdvisoryLock(handle, "probepilot:bootstrap", async () => {
    const existing = await handle.db.select({ id: tenants.id }).from(tenants).limit(1);
    if (existing.length > 0) return null;
    return handle.db.transaction(async (tx) => {
      const tenantId = newId("tenant");
      await tx.insert(tenants).values({ id: tenantId, name: DEFAULT_TENANT_NAME });
      const created = await createApiToken(tx, { tenantId, actor: "bootstrap" }, { name: "bootstrap-admin", role: "admin" });
      const file = await writeAdminTokenFile(dataDir, created.token);
      return { token: created.token, file };
    });
  });
}

/**
 * For the local stack: when `<dataDir>/admin-token` is missing although the
 * database is set up (it was deleted, or DATABASE_URL points at an existing
 * database), mint a new admin token for the default tenant and write the file.
 * Whoever runs the stack owns its database, so this grants nothing new.
 */
export async function mintLocalAdminToken(handle: DbHandle, dataDir: string): Promise<{ token: string; file: string }> {
  const [tenant] = await handle.db.select().from(tenants).where(eq(tenants.name, DEFAULT_TENANT_NAME)).limit(1);
  if (!tenant) throw new Error(`no "${DEFAULT_TENANT_NAME}" tenant in the database`);
  return handle.db.transaction(async (tx) => {
    const created = await createApiToken(tx, { tenantId: tenant.id, actor: "stack:local-admin" }, { name: "local-admin", role: "admin" });
    return { token: created.token, file: await writeAdminTokenFile(dataDir, created.token) };
  });
}

/** Atomically (temp file + rename) and readable by the owner only. */
async function writeAdminTokenFile(dataDir: string, token: string): Promise<string> {
  await mkdir(dataDir, { recursive: true });
  const file = adminTokenFile(dataDir);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${token}\n`, { mode: 0o600 });
  await chmod(tmp, 0o600); // writeFile's mode applies only when it creates the file
  await rename(tmp, file);
  return file;
}
