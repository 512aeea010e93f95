import { newId, mergeLabels, type AgentStatus, type Labels } from "@probepilot/shared";
import type { Db } from "@probepilot/control-plane/db/client";
import { agents } from "@probepilot/control-plane/db/schema";
import { NkeyPair } from "@probepilot/shared/nkeys";
import { fakeCapabilities } from "./fake-hello.ts";

export type AgentRowSpec = { hostname?: string; hostLabels?: Labels; userLabels?: Labels; centralLabels?: Labels; status?: AgentStatus };

/**
 * Insert agents straight into the registry (for query tests that need many rows
 * fast; enrollment itself is tested over HTTP). Returns the ids in input order.
 */
export async function insertAgents(db: Db, tenantId: string, specs: AgentRowSpec[]): Promise<string[]> {
  const rows = specs.map((s, i) => {
    const hostLabels = s.hostLabels ?? {};
    const userLabels = s.userLabels ?? {};
    const centralLabels = s.centralLabels ?? {};
    return {
      id: newId("agent"),
      tenantId,
      hostname: s.hostname ?? `row-host-${i}`,
      hostLabels,
      userLabels,
      centralLabels,
      labels: mergeLabels(hostLabels, userLabels, centralLabels),
      agentVersion: "0.1.0-test",
      kernel: "6.1.0-test",
      arch: "x86_64",
      os: "linux",
      capabilities: fakeCapabilities(),
      natsPublicKey: NkeyPair.create("user").getPublicKey(),
      status: s.status ?? ("online" as const),
    };
  });
  for (let i = 0; i < rows.length; i += 500) await db.insert(agents).values(rows.slice(i, i + 500));
  return rows.map((r) => r.id);
}
