import { chmod, mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { newId } from "@probepilot/shared";
import { withAdvisoryLock, type DbHandle } from "../../db/client.ts";
import { tenants } from "../../db/schema.ts";
import { createApiToken } from "../tokens/create-api-token.ts";

export const DEFAULT_TENANT_NAME = "default";

/**
 * First start: create the default tenant and a bootstrap admin token, written with
 * mode 0600 to `<dataDir>/admin-token` and returned so the caller prints it once.
 * Later starts (or a second control plane racing this one) find the tenant and do nothing.
 */
export async function bootstrapIfEmpty(handle: DbHandle, dataDir: string): Promise<{ token: string; file: string } | null> {
  return withAdvisoryLock(handle, "probepilot:bootstrap", async () => {
    const existing = await handle.db.select({ id: tenants.id }).from(tenants).limit(1);
    if (existing.length > 0) return null;
    const tenantId = newId("tenant");
    await handle.db.insert(tenants).values({ id: tenantId, name: DEFAULT_TENANT_NAME });
    const created = await createApiToken(handle.db, { tenantId, actor: "bootstrap" }, { name: "bootstrap-admin", role: "admin" });
    await mkdir(dataDir, { recursive: true });
    const file = path.join(dataDir, "admin-token");
    await writeFile(file, `${created.token}\n`, { mode: 0o600 });
    await chmod(file, 0o600); // writeFile's mode applies only when it creates the file
    return { token: created.token, file };
  });
}
