import { sql } from "drizzle-orm";
import { bigint, bigserial, doublePrecision, index, integer, jsonb, pgEnum, pgTable, primaryKey, text, timestamp, uniqueIndex } from "drizzle-orm/pg-core";
import type {
  AgentCapabilities,
  AgentTelemetryStatus,
  Labels,
  ProbeKind,
  ProbeStatus,
  RolloutAgentState,
  RolloutMembership,
  RolloutState,
  RolloutStrategy,
  RolloutView,
  Stratum,
  WavePhase,
} from "@probepilot/shared";

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
    /** Null: never expires. Past it, `authenticate` refuses the token saying when it expired. */
    expiresAt: timestamp("expires_at", { withTimezone: true }),
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
    /** Enrollments this token allows (retries of one enrollment count once); null: no limit (tokens made before limits existed). */
    maxUses: integer("max_uses"),
  },
  (t) => [uniqueIndex("enrollment_tokens_hash_idx").on(t.tokenHash), index("enrollment_tokens_tenant_idx").on(t.tenantId)],
);

export const agentStatusEnum = pgEnum("agent_status", ["online", "offline", "revoked"]);

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
    /**
     * The agent's NKEY user public key (`U…`): its NATS identity. The agent made the pair and
     * keeps the seed; user JWTs are issued for this key only.
     */
    natsPublicKey: text("nats_public_key").notNull(),
    /** When the newest user JWT issued to the agent expires (it renews before). */
    credsExpiresAt: timestamp("creds_expires_at", { withTimezone: true }),
    /** Set by `agents.revoke`: the key is in the tenant account's revocation list and no JWT is issued again. */
    revokedAt: timestamp("revoked_at", { withTimezone: true }),
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
    // Partial: agents enrolled before NKEY identities have an empty key until they enroll again.
    uniqueIndex("agents_nats_public_key_idx").on(t.natsPublicKey).where(sql`nats_public_key <> ''`),
  ],
);

export const natsIdentityKindEnum = pgEnum("nats_identity_kind", ["operator", "system", "platform", "tenant"]);

/**
 * The NATS trust chain the control plane owns (decentralized JWT auth, docs/security.md):
 * the operator, the system account, the platform account and one account per tenant.
 * Seeds are stored encrypted (AES-256-GCM with `PROBEPILOT_SECRET_KEY`). JWTs are
 * not stored: they are issued from these rows when needed. Each identity has a
 * separate signing key, so the identity key itself signs nothing day to day and
 * a signing key can be rotated without changing the account.
 */
export const natsIdentities = pgTable(
  "nats_identities",
  {
    /** `operator`, `system`, `platform`, or the tenant id. */
    id: text("id").primaryKey(),
    kind: natsIdentityKindEnum("kind").notNull(),
    tenantId: text("tenant_id").references(() => tenants.id),
    publicKey: text("public_key").notNull(),
    seedSealed: text("seed_sealed").notNull(),
    signingPublicKey: text("signing_public_key").notNull(),
    signingSeedSealed: text("signing_seed_sealed").notNull(),
    /**
     * Accounts: user public key → `at` (unix seconds: JWTs of that key issued up to then are
     * refused) and `until` (when the newest such JWT would have expired anyway: the entry is
     * dropped from the account JWT after that, keeping the JWT small).
     */
    revocations: jsonb("revocations").$type<Record<string, { at: number; until: number }>>().notNull().default({}),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex("nats_identities_tenant_idx").on(t.tenantId)],
);
export type NatsIdentityRow = typeof natsIdentities.$inferSelect;

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

/**
 * The probe catalog: one probe per built-in kind per tenant (seeded on first use),
 * each with immutable versions identified by the hash of their parsed spec.
 */
export const probes = pgTable(
  "probes",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull().references(() => tenants.id),
    name: text("name").notNull(),
    kind: text("kind").$type<ProbeKind>().notNull(),
    description: text("description").notNull().default(""),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex("probes_tenant_name_idx").on(t.tenantId, t.name)],
);

/** Immutable probe versions: a version number per probe, and a spec hash that makes creating the same spec twice return the first. */
export const probeVersions = pgTable(
  "probe_versions",
  {
    probeId: text("probe_id").notNull().references(() => probes.id),
    tenantId: text("tenant_id").notNull().references(() => tenants.id),
    version: integer("version").notNull(),
    specHash: text("spec_hash").notNull(),
    /** Parameters as parsed by the kind's schema (defaults filled in). */
    params: jsonb("params").$type<Record<string, unknown>>().notNull(),
    createdBy: text("created_by").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.probeId, t.version] }), uniqueIndex("probe_versions_spec_idx").on(t.probeId, t.specHash)],
);

/**
 * Rollouts: the state machine the engine drives (see services/rollouts/engine).
 * `stageVersion` counts changes of what the rollout's policy must say (cut, or
 * absent); `kvStageVersion` is the last one written to the policy bucket, so a
 * control plane that dies between the two re-syncs the bucket when it resumes.
 */
export const rollouts = pgTable(
  "rollouts",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull().references(() => tenants.id),
    probeId: text("probe_id").notNull().references(() => probes.id),
    probeName: text("probe_name").notNull(),
    kind: text("kind").$type<ProbeKind>().notNull(),
    version: integer("version").notNull(),
    specHash: text("spec_hash").notNull(),
    params: jsonb("params").$type<Record<string, unknown>>().notNull(),
    selector: text("selector").notNull(),
    strategy: jsonb("strategy").$type<RolloutStrategy>().notNull(),
    policyId: text("policy_id").notNull(),
    state: text("state").$type<RolloutState>().notNull(),
    stateReason: text("state_reason"),
    currentWave: integer("current_wave").notNull().default(0),
    phase: text("phase").$type<WavePhase>(),
    /** Cut per wave (basis points), fixed at creation from the matching agents (so the preview holds). */
    cuts: jsonb("cuts").$type<number[]>().notNull(),
    /** The canary's strata and the agents that represent them (explicit ids where the hash alone missed a stratum). */
    canary: jsonb("canary").$type<{ stratum: Stratum; agentId: string; byHash: boolean }[]>().notNull(),
    /** Per wave: when it started and when it completed (ISO), null until then. */
    waveTimes: jsonb("wave_times").$type<{ startedAt: string | null; completedAt: string | null }[]>().notNull(),
    gateDeadline: timestamp("gate_deadline", { withTimezone: true }),
    bakeEndsAt: timestamp("bake_ends_at", { withTimezone: true }),
    /** The stage's health as the engine last computed it. */
    health: jsonb("health").$type<RolloutView["health"]>(),
    /** Bumped by every write to the row: the engine's updates are conditional on it (an operator's action in between wins). */
    revision: integer("revision").notNull().default(0),
    stageVersion: integer("stage_version").notNull().default(1),
    kvStageVersion: integer("kv_stage_version").notNull().default(0),
    /** Set on a completed rollout whose policy a later completed rollout (same kind and selector) retired. */
    supersededBy: text("superseded_by"),
    createdBy: text("created_by").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
    completedAt: timestamp("completed_at", { withTimezone: true }),
  },
  (t) => [
    index("rollouts_tenant_created_idx").on(t.tenantId, t.createdAt),
    // One active rollout per probe kind and tenant: two would fight over the same agents.
    uniqueIndex("rollouts_one_active_per_kind_idx").on(t.tenantId, t.kind).where(sql`state in ('running', 'paused', 'rolling_back')`),
  ],
);

/** One row per agent that matched a rollout at any time: its wave, state and how it came in. */
export const rolloutAgents = pgTable(
  "rollout_agents",
  {
    rolloutId: text("rollout_id").notNull().references(() => rollouts.id),
    agentId: text("agent_id").notNull(),
    tenantId: text("tenant_id").notNull(),
    wave: integer("wave").notNull(),
    state: text("state").$type<RolloutAgentState>().notNull(),
    membership: text("membership").$type<RolloutMembership>().notNull(),
    error: text("error"),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.rolloutId, t.agentId] }), index("rollout_agents_state_idx").on(t.rolloutId, t.state)],
);

/** Every per-agent state change of a rollout, in order: the status history. */
export const rolloutAgentTransitions = pgTable(
  "rollout_agent_transitions",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    rolloutId: text("rollout_id").notNull().references(() => rollouts.id),
    agentId: text("agent_id").notNull(),
    wave: integer("wave").notNull(),
    fromState: text("from_state").$type<RolloutAgentState>(),
    toState: text("to_state").$type<RolloutAgentState>().notNull(),
    error: text("error"),
    at: timestamp("at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index("rollout_agent_transitions_rollout_idx").on(t.rolloutId, t.agentId),
    // Mission Control lists the newest failures (agents.summary): partial, so it holds only
    // the few failed transitions and costs nothing on the millions of others.
    index("rollout_agent_transitions_failed_at_idx").on(t.at).where(sql`${t.toState} = 'failed'`),
  ],
);

export type ProbeRow = typeof probes.$inferSelect;
export type ProbeVersionRow = typeof probeVersions.$inferSelect;
export type RolloutRow = typeof rollouts.$inferSelect;
export type RolloutAgentRow = typeof rolloutAgents.$inferSelect;
