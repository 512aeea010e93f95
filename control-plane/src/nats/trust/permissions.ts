import {
  AGENT_RPC_PREFIX,
  STATUS_CONSUMER,
  STATUS_STREAM,
  STATUS_SUBJECT_PREFIX,
  TELEMETRY_CONSUMER,
  TELEMETRY_STREAM,
  TELEMETRY_SUBJECT_PREFIX,
  agentConfigBucket,
  agentConfigNudgeSubject,
  agentInboxPrefix,
  agentRpcSubject,
  deadLetterSubject,
  policyBucket,
  statusSubject,
} from "@probepilot/shared";

/**
 * What a NATS user may publish and subscribe to: the `pub`/`sub` allow lists of
 * its user JWT, enforced by the NATS server (a client that tries anything else
 * gets a permissions violation, and the message goes nowhere). Everything not
 * allowed is denied. docs/security.md has the table of roles.
 */
export type UserPermissions = { pub: { allow: string[] }; sub: { allow: string[] } };

/** The roles the control plane issues credentials for. */
export type UserRole = "agent" | "simulator" | "tenant-control" | "platform-admin" | "status-writer" | "ingester" | "system";

/**
 * Reading a KV bucket the way nats.js does with `bindOnly` (no stream lookup): an
 * ordered push consumer for `watch` (created on the bucket's stream, delivering
 * to the reader's inbox, flow-controlled) and, for single keys, a direct get whose
 * subject names the key — so that a reader can be limited to some keys.
 */
function kvWatch(bucket: string): string[] {
  const stream = `KV_${bucket}`;
  return [`$JS.API.CONSUMER.CREATE.${stream}`, `$JS.API.CONSUMER.CREATE.${stream}.>`, `$JS.FC.${stream}.>`];
}
const kvDirectGet = (bucket: string, key: string) => `$JS.API.DIRECT.GET.KV_${bucket}.$KV.${bucket}.${key}`;

/**
 * One agent (tenant account): publish its own telemetry, status and requests
 * (the JetStream acks and replies come back to its inbox); watch its tenant's
 * policies; read its own central-config key; hear its own config nudges. No
 * other agent's subjects, no other tenant, no JetStream administration, no
 * wildcard subscriptions outside its own inbox.
 */
export function agentPermissions(tenantId: string, agentId: string): UserPermissions {
  return {
    pub: {
      allow: [
        `${TELEMETRY_SUBJECT_PREFIX}.${tenantId}.${agentId}.>`,
        statusSubject(tenantId, agentId),
        agentRpcSubject(tenantId, agentId, "hello"),
        agentRpcSubject(tenantId, agentId, "renew"),
        ...kvWatch(policyBucket(tenantId)),
        kvDirectGet(agentConfigBucket(tenantId), agentId),
      ],
    },
    sub: { allow: [`${agentInboxPrefix(agentId)}.>`, agentConfigNudgeSubject(tenantId, agentId)] },
  };
}

/**
 * The fleet simulator (tenant account): many simulated agents of one tenant over
 * a few shared connections, so it may speak for any agent of that tenant — and
 * only that tenant. A test tool (docs/simulator.md): never give it to a host.
 */
export function simulatorPermissions(tenantId: string): UserPermissions {
  return {
    pub: {
      allow: [
        `${TELEMETRY_SUBJECT_PREFIX}.${tenantId}.>`,
        `${STATUS_SUBJECT_PREFIX}.${tenantId}.>`,
        `${AGENT_RPC_PREFIX}.${tenantId}.>`,
        ...kvWatch(policyBucket(tenantId)),
        kvDirectGet(agentConfigBucket(tenantId), ">"),
      ],
    },
    sub: { allow: ["_INBOX.>", `pp.agent.${tenantId}.>`] },
  };
}

/**
 * The control plane in a tenant's account: creates and writes the tenant's KV
 * buckets (policies, agent config) and sends config nudges to its agents.
 */
export function tenantControlPermissions(tenantId: string): UserPermissions {
  return {
    pub: {
      allow: ["$JS.API.>", `$KV.${policyBucket(tenantId)}.>`, `$KV.${agentConfigBucket(tenantId)}.>`, `pp.agent.${tenantId}.>`],
    },
    sub: { allow: ["_INBOX.>"] },
  };
}

/**
 * The control plane in the platform account: creates the streams and consumers,
 * taps live telemetry, answers agent requests. It owns the account.
 */
export const PLATFORM_ADMIN_PERMISSIONS: UserPermissions = { pub: { allow: [">"] }, sub: { allow: [">"] } };

/**
 * A consumer of one durable pull consumer (platform account): fetch, ack,
 * look the consumer and its stream up, and dead-letter poison.
 */
function durableConsumerPermissions(stream: string, consumer: string, deadLetters: string): UserPermissions {
  return {
    pub: {
      allow: [
        "$JS.API.INFO",
        `$JS.API.STREAM.INFO.${stream}`,
        `$JS.API.CONSUMER.INFO.${stream}.${consumer}`,
        `$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`,
        `$JS.ACK.${stream}.${consumer}.>`,
        deadLetters,
      ],
    },
    sub: { allow: ["_INBOX.>"] },
  };
}

/** The status writer: drains `PP_STATUS` into Postgres. */
export const STATUS_WRITER_PERMISSIONS = durableConsumerPermissions(STATUS_STREAM, STATUS_CONSUMER, deadLetterSubject("status"));

/** An ingester (in the control plane or standalone): drains `PP_TELEMETRY` into Postgres. */
export const INGESTER_PERMISSIONS = durableConsumerPermissions(TELEMETRY_STREAM, TELEMETRY_CONSUMER, deadLetterSubject("telemetry"));

/** The control plane in the system account: pushes account JWTs to the servers' resolvers. */
export const SYSTEM_PERMISSIONS: UserPermissions = {
  pub: { allow: ["$SYS.REQ.CLAIMS.UPDATE", "$SYS.REQ.ACCOUNT.*.CLAIMS.UPDATE"] },
  sub: { allow: ["_INBOX.>"] },
};
