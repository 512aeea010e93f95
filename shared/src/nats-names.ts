/**
 * Every NATS subject, stream, consumer, KV bucket and account name in one place.
 *
 * Subjects put the tenant and agent in fixed token positions: each agent's NATS
 * user may publish only on subjects carrying its own tenant and agent id, and
 * each tenant's account imports only subjects carrying its own tenant id, so the
 * NATS server (not the client) enforces who may say what (docs/security.md).
 */

/** Name of the platform account: ProbePilot's own streams (status, telemetry, dead letters) and services. */
export const PLATFORM_ACCOUNT = "PROBEPILOT";
/** Name of the NATS system account (server events, account JWT updates). */
export const SYSTEM_ACCOUNT = "SYS";

/**
 * Request/reply from one agent to the control planes, on its authenticated
 * connection: `hello` (host facts in, central config out) and `renew` (a fresh
 * user JWT before the current one expires). The tenant's account imports
 * `pp.rpc.<tenant>.>` from the platform account, and the agent may publish only
 * `pp.rpc.<tenant>.<agent>.*`: the subject says who is asking.
 */
export const AGENT_RPC_PREFIX = "pp.rpc";
export type AgentRpcVerb = "hello" | "renew";
export const agentRpcSubject = (tenantId: string, agentId: string, verb: AgentRpcVerb) => `${AGENT_RPC_PREFIX}.${tenantId}.${agentId}.${verb}`;
/** What the control planes' responder subscribes to (platform account). */
export const AGENT_RPC_SUBJECTS_ALL = `${AGENT_RPC_PREFIX}.*.*.*`;
/** Queue group of the control planes answering agent requests (one answers each). */
export const AGENT_RPC_QUEUE = "pp-agent-rpc";

/**
 * An agent's reply subjects: `_INBOX.<agentId>.<nuid>` (nats.js `inboxPrefix`).
 * Its user may subscribe only there, so no agent can read another's replies.
 */
export const agentInboxPrefix = (agentId: string) => `_INBOX.${agentId}`;

/** JetStream stream carrying hellos, heartbeats, status changes and goodbyes. */
export const STATUS_STREAM = "PP_STATUS";
export const STATUS_SUBJECT_PREFIX = "pp.status";
export const statusSubject = (tenantId: string, agentId: string) => `${STATUS_SUBJECT_PREFIX}.${tenantId}.${agentId}`;
export const STATUS_SUBJECTS_ALL = `${STATUS_SUBJECT_PREFIX}.>`;
/** Durable pull consumer shared by control planes. */
export const STATUS_CONSUMER = "pp-status-writer";

/** JetStream stream carrying telemetry batches. */
export const TELEMETRY_STREAM = "PP_TELEMETRY";
export const TELEMETRY_SUBJECT_PREFIX = "pp.tm";
export const telemetrySubject = (tenantId: string, agentId: string, probe: string) =>
  `${TELEMETRY_SUBJECT_PREFIX}.${tenantId}.${agentId}.${probe}`;
export const TELEMETRY_SUBJECTS_ALL = `${TELEMETRY_SUBJECT_PREFIX}.>`;
/** Durable pull consumer shared by every ingester. */
export const TELEMETRY_CONSUMER = "pp-ingest";

/** Dead letters: poison messages with the reason in the `Pp-Dead-Letter-Reason` header. */
export const DEAD_LETTER_SUBJECT_PREFIX = "pp.dlq";
export const deadLetterSubject = (source: "status" | "telemetry") => `${DEAD_LETTER_SUBJECT_PREFIX}.${source}`;
export const DEAD_LETTER_REASON_HEADER = "Pp-Dead-Letter-Reason";
/** Header on a dead letter naming the subject it was first published on. */
export const DEAD_LETTER_ORIGINAL_SUBJECT_HEADER = "Pp-Original-Subject";
/** JetStream stream keeping dead letters (7 days) for inspection. */
export const DEAD_LETTER_STREAM = "PP_DEAD_LETTERS";

/**
 * Core-NATS nudge telling one agent that its central config (labels) changed.
 * The config itself lives in the agent-config KV bucket; agents read their key
 * on connect and on every nudge (one KV watcher per agent does not scale: see the brief).
 */
export const agentConfigNudgeSubject = (tenantId: string, agentId: string) => `pp.agent.${tenantId}.${agentId}.config`;

/** KV bucket per tenant holding rollout policies (one key per policy). */
export const policyBucket = (tenantId: string) => `pp_policies_${tenantId}`;
/** KV bucket per tenant holding per-agent central config (key = agent id). */
export const agentConfigBucket = (tenantId: string) => `pp_agentcfg_${tenantId}`;
