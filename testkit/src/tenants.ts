import { newId, type Role } from "@probepilot/shared";
import { tenants } from "@probepilot/control-plane/db/schema";
import { createApiToken } from "@probepilot/control-plane/services/tokens/create-api-token";
import type { Harness } from "./control-plane-harness.ts";

export type TestTenant = { tenantId: string; token: string; client: ReturnType<Harness["client"]> };

/**
 * A second (third, …) tenant made directly through the database and the token
 * service, as an operator would before the API grows a tenants endpoint, with an
 * API token of `role` and a typed client using it.
 */
export async function createTenant(h: Harness, name: string, role: Role = "admin"): Promise<TestTenant> {
  const tenantId = newId("tenant");
  await h.cp.db.db.insert(tenants).values({ id: tenantId, name });
  const created = await createApiToken(h.cp.db.db, { tenantId, actor: "test-setup" }, { name: `${name}-${role}`, role });
  return { tenantId, token: created.token, client: h.client(created.token) };
}
