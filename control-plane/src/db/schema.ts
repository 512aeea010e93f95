import { sql } from "drizzle-orm";
import { bigint, bigserial, index, integer, jsonb, pgEnum, pgTable, text, timestamp, uniqueIndex } from "drizzle-orm/pg-core";
import type { AgentCapabilities, Labels, ProbeStatus } from "@probepilot/shared";

/**
 * Tenancy from day one: every table but `tenants` has a `tenant_id`, and every
 * service query filters by the caller's tenant.
 */
export const tenants = pgTable("tenants", {
  id: text("id").primaryKey(),
  name: text("name").notNull().unique(),
  createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
});

export const roleEnum = pgEnum("role", ["viewer", "operator", "admin"]);

/** API tokens. Only a SHA-256 of the token is stored: tokens are 256-bit random, so a slow hash adds nothing. */
export const apiTokens = pgTable(
  "api_tokens",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull().references(() => tenants.id),
    name: text("name").notNull(),
    role: roleEnum("role").notNull(),
    tokenHash: text("token_hash").notNull(),
    createdBy: text("created_by").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    lastUsedAt: timestamp("last_used_at", { withTimezone: true }),
    revokedAt: timestamp("revoked_at", { withTimezone: true }),
  },
  (t) => [uniqueIndex("api_tokens_hash_idx").on(t.tokenHash), index("api_tokens_tenant_idx").on(t.tenantId)],
);

/** Per-tenant enrollment tokens that new agents present once to receive an identity. */
export const enrollmentTokens = pgTable(
  "enrollment_tokens",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull().references(() => tenants.id),
    description: text("description").notNull().default(""),
    tokenHash: text("token_hash").notNull(),
    createdBy: text("created_by").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    expiresAt: timestamp("expires_at", { withTimezone: true }),
    revokedAt: timestamp("revoked_at", { withTimezone: true }),
    uses: integer("uses").notNull().default(0),
  },
  (t) => [uniqueIndex("enrollment_tokens_hash_idx").on(t.tokenHash), index("enrollment_tokens_tenant_idx").on(t.tenantId)],
);

export const agentStatusEnum = pgEnum("agent_status", ["online", "offline"]);

/**
 * The agent registry. `labels` is the effective set (host ⊕ user ⊕ central, later
 * layers win), kept materialized so selectors run as one indexed query.
 */
export const agents = pgTable(
  "agents",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull().references(() => tenants.id),
    hostname: text("hostname").notNull(),
    hostLabels: jsonb("host_labels").$type<Labels>().notNull().default({}),
    userLabels: jsonb("user_labels").$type<Labels>().notNull().default({}),
    centralLabels: jsonb("central_labels").$type<Labels>().notNull().default({}),
    labels: jsonb("labels").$type<Labels>().notNull().default({}),
    configRevision: integer("config_revision").notNull().default(0),
    agentVersion: text("agent_version").notNull(),
    kernel: text("kernel").notNull(),
    arch: text("arch").notNull(),
    os: text("os").notNull(),
    capabilities: jsonb("capabilities").$type<AgentCapabilities>().notNull(),
    probes: jsonb("probes").$type<ProbeStatus[]>().notNull().default([]),
    appliedPolicies: jsonb("applied_policies").$type<Record<string, number>>().notNull().default({}),
    /** Policies the agent could not use (key → reason) and same-kind conflicts it resolved, as last reported. */
    invalidPolicies: jsonb("invalid_policies").$type<Record<string, string>>().notNull().default({}),
    policyConflicts: jsonb("policy_conflicts").$type<{ kind: string; winner: string; loser: string }[]>().notNull().default([]),
    agentKeyHash: text("agent_key_hash").notNull(),
    enrolledWith: text("enrolled_with"),
    /** The agent's enroll `requestId`: a retried enrollment (lost reply) finds this row. */
    enrollRequestId: text("enroll_request_id"),
    status: agentStatusEnum("status").notNull().default("online"),
    heartbeatIntervalSec: integer("heartbeat_interval_sec").notNull().default(10),
    /** Agent-side time of the newest status applied (informational: ordering uses instance and seq). */
    lastStatusAt: timestamp("last_status_at", { withTimezone: true }),
    /** Agent process (`instanceId`) that sent the newest status applied (informational: a change means a restart). */
    statusInstance: text("status_instance"),
    /**
     * Position of the newest status applied in the status stream: `streamEpoch` (the
     * stream's creation time, so a recreated stream starts afresh) and its sequence.
     * An older position (a redelivery) is ignored. Arrival order, never agent clocks.
     */
    statusStreamEpoch: text("status_stream_epoch"),
    statusStreamSeq: bigint("status_stream_seq", { mode: "number" }).notNull().default(0),
    firstSeenAt: timestamp("first_seen_at", { withTimezone: true }).notNull().defaultNow(),
    lastSeenAt: timestamp("last_seen_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index("agents_tenant_status_idx").on(t.tenantId, t.status),
    index("agents_labels_gin_idx").using("gin", t.labels),
    index("agents_tenant_last_seen_idx").on(t.tenantId, t.lastSeenAt),
    uniqueIndex("agents_enroll_request_idx").on(t.tenantId, t.enrollRequestId),
  ],
);

/** Every mutation, with its actor. Append-only. */
export const auditLog = pgTable(
  "audit_log",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    tenantId: text("tenant_id").notNull().references(() => tenants.id),
    actor: text("actor").notNull(),
    action: text("action").notNull(),
    target: text("target"),
    details: jsonb("details").$type<Record<string, unknown>>().notNull().default(sql`'{}'::jsonb`),
    at: timestamp("at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("audit_log_tenant_at_idx").on(t.tenantId, t.at)],
);

export type AgentRow = typeof agents.$inferSelect;
export type ApiTokenRow = typeof apiTokens.$inferSelect;
export type EnrollmentTokenRow = typeof enrollmentTokens.$inferSelect;
export type AuditRow = typeof auditLog.$inferSelect;
