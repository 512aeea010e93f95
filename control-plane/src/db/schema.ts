import { sql } from "drizzle-orm";
import { bigint, bigserial, doublePrecision, index, integer, jsonb, pgEnum, pgTable, primaryKey, text, timestamp, uniqueIndex } from "drizzle-orm/pg-core";
import type { AgentCapabilities, AgentTelemetryStatus, Labels, ProbeStatus } from "@probepilot/shared";

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
    /** The agent's telemetry spool as last reported: batches and bytes waiting, and dropped past the bound. */
    telemetry: jsonb("telemetry").$type<AgentTelemetryStatus>(),
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

/**
 * One time series: a (tenant, agent, probe, metric, label set). Samples refer to
 * it by id, so the hot sample rows stay three numbers wide; the tenant scope of a
 * sample is its series'.
 */
export const series = pgTable(
  "series",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    tenantId: text("tenant_id").notNull().references(() => tenants.id),
    agentId: text("agent_id").notNull(),
    probe: text("probe").notNull(),
    metric: text("metric").notNull(),
    kind: text("kind").notNull(),
    unit: text("unit"),
    labels: jsonb("labels").$type<Labels>().notNull(),
    /** Canonical `k=v` list of the labels (sorted): part of the identity, cheap to compare. */
    labelsKey: text("labels_key").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("series_identity_idx").on(t.tenantId, t.agentId, t.probe, t.metric, t.labelsKey),
    index("series_tenant_metric_idx").on(t.tenantId, t.metric),
  ],
);

/**
 * Which telemetry batches are stored: written in the same transaction as their
 * rows, so a redelivered or re-published batch is recognised and skipped
 * (exactly-once effect). Pruned with the raw retention.
 */
export const ingestLedger = pgTable(
  "ingest_ledger",
  {
    agentId: text("agent_id").notNull(),
    probe: text("probe").notNull(),
    seq: bigint("seq", { mode: "number" }).notNull(),
    tenantId: text("tenant_id").notNull(),
    samples: integer("samples").notNull(),
    ingestedAt: timestamp("ingested_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.agentId, t.probe, t.seq] }), index("ingest_ledger_ingested_at_idx").on(t.ingestedAt)],
);

/** Discrete events (exec, exit, file open, OOM kill, …) with their typed attributes. */
export const telemetryEvents = pgTable(
  "telemetry_events",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    tenantId: text("tenant_id").notNull(),
    agentId: text("agent_id").notNull(),
    probe: text("probe").notNull(),
    name: text("name").notNull(),
    ts: bigint("ts", { mode: "number" }).notNull(),
    attrs: jsonb("attrs").$type<Record<string, string | number | boolean | null>>().notNull(),
  },
  (t) => [index("telemetry_events_tenant_ts_idx").on(t.tenantId, t.ts), index("telemetry_events_tenant_name_ts_idx").on(t.tenantId, t.name, t.ts)],
);

/** Log2-bucketed histogram snapshots, per series. */
export const histogramSnapshots = pgTable(
  "histogram_snapshots",
  {
    seriesId: bigint("series_id", { mode: "number" }).notNull(),
    ts: bigint("ts", { mode: "number" }).notNull(),
    buckets: bigint("buckets", { mode: "number" }).array().notNull(),
    sum: doublePrecision("sum").notNull(),
    count: bigint("count", { mode: "number" }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.seriesId, t.ts] })],
);

/** CPU-profile folded stacks with their sample counts. */
export const profileStacks = pgTable(
  "profile_stacks",
  {
    tenantId: text("tenant_id").notNull(),
    agentId: text("agent_id").notNull(),
    ts: bigint("ts", { mode: "number" }).notNull(),
    pid: integer("pid").notNull(),
    comm: text("comm").notNull(),
    stack: text("stack").notNull(),
    count: integer("count").notNull(),
  },
  (t) => [index("profile_stacks_tenant_agent_ts_idx").on(t.tenantId, t.agentId, t.ts)],
);

/** Rollup tiers, maintained by the rollup worker from the raw samples. */
const rollupColumns = {
  seriesId: bigint("series_id", { mode: "number" }).notNull(),
  /** Start of the bucket, Unix ms. */
  bucket: bigint("bucket", { mode: "number" }).notNull(),
  count: integer("count").notNull(),
  sum: doublePrecision("sum").notNull(),
  min: doublePrecision("min").notNull(),
  max: doublePrecision("max").notNull(),
  /** Value of the latest sample in the bucket (counters: for rate over buckets). */
  last: doublePrecision("last").notNull(),
};
export const samples1m = pgTable("samples_1m", rollupColumns, (t) => [primaryKey({ columns: [t.seriesId, t.bucket] }), index("samples_1m_bucket_idx").on(t.bucket)]);
export const samples1h = pgTable("samples_1h", rollupColumns, (t) => [primaryKey({ columns: [t.seriesId, t.bucket] }), index("samples_1h_bucket_idx").on(t.bucket)]);

/** How far each rollup tier is complete (Unix ms), and minutes to recompute because late data arrived. */
export const rollupState = pgTable("rollup_state", {
  tier: text("tier").primaryKey(),
  watermark: bigint("watermark", { mode: "number" }).notNull(),
});
export const rollupDirty = pgTable("rollup_dirty", {
  bucket: bigint("bucket", { mode: "number" }).primaryKey(),
});

export type SeriesRow = typeof series.$inferSelect;
