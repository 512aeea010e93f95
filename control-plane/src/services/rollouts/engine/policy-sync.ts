import { and, eq, ne, sql } from "drizzle-orm";
import type { KV, NatsConnection } from "nats";
import { policyBucket, versionLabel, type Policy } from "@probepilot/shared";
import type { Db } from "../../../db/client.ts";
import { rollouts, type RolloutRow } from "../../../db/schema.ts";
import type { Logger } from "../../../logger.ts";

/**
 * The policy a rollout must have in its tenant's bucket, or null when it must be
 * absent (rolled back, or retired by a newer completed rollout of the same kind
 * and selector). An aborted rollout keeps its stage: the agents that have the
 * version keep it until someone rolls it back.
 */
export function policyFor(row: RolloutRow): Policy | null {
  if (row.state === "rolling_back" || row.state === "rolled_back" || row.supersededBy) return null;
  return {
    policyId: row.policyId,
    rolloutId: row.id,
    probe: { kind: row.kind, version: versionLabel(row.version), specHash: row.specHash, params: row.params },
    selector: row.selector,
    stage: { cutBasisPoints: row.cuts[row.currentWave] ?? 0, agentIds: row.canary.filter((c) => !c.byHash).map((c) => c.agentId) },
    revision: 0,
    // Recency decides between two policies for one kind: the rollout's creation, not its last step.
    updatedAt: row.createdAt.getTime(),
  };
}

/**
 * Writes what Postgres says to the policy buckets: every rollout whose stage
 * changed since the last write (`stageVersion` ahead of `kvStageVersion`). One
 * KV write per rollout step, whatever the fleet size. Idempotent: a control plane
 * that died between a step and its write makes the write when it resumes.
 */
export class PolicySync {
  private readonly buckets = new Map<string, KV>();

  constructor(
    private readonly db: Db,
    /** The control plane's connection to a tenant's account, where its policy bucket lives. */
    private readonly tenantNats: (tenantId: string) => Promise<NatsConnection>,
    private readonly log: Logger,
  ) {}

  /** Returns the ids of the rollouts whose policy was written, with when. */
  async sync(): Promise<{ rolloutId: string; at: number; present: boolean }[]> {
    const stale = await this.db.select().from(rollouts).where(ne(rollouts.stageVersion, rollouts.kvStageVersion));
    const written: { rolloutId: string; at: number; present: boolean }[] = [];
    for (const row of stale) {
      const started = performance.now();
      const policy = policyFor(row);
      try {
        const kv = await this.bucket(row.tenantId);
        if (policy) await kv.put(row.policyId, JSON.stringify(policy));
        else await kv.delete(row.policyId);
      } catch (err) {
        // One tenant's bucket failing must not hold up the others: this one is retried next pass.
        this.log.error({ err, rollout: row.id, policy: row.policyId }, "could not write a rollout's policy; retrying");
        continue;
      }
      const at = Date.now();
      await this.db
        .update(rollouts)
        .set({ kvStageVersion: row.stageVersion })
        .where(and(eq(rollouts.id, row.id), sql`${rollouts.kvStageVersion} < ${row.stageVersion}`));
      this.log.info({ rollout: row.id, policy: row.policyId, present: policy !== null, cut: policy?.stage.cutBasisPoints, stageVersion: row.stageVersion, ms: Math.round(performance.now() - started) }, "policy written");
      written.push({ rolloutId: row.id, at, present: policy !== null });
    }
    return written;
  }

  private async bucket(tenantId: string): Promise<KV> {
    let kv = this.buckets.get(tenantId);
    if (!kv) {
      kv = await (await this.tenantNats(tenantId)).jetstream().views.kv(policyBucket(tenantId), { bindOnly: true });
      this.buckets.set(tenantId, kv);
    }
    return kv;
  }
}
