import { z } from "zod";
import { EffectiveLabelsSchema, LabelsSchema } from "./labels.ts";
import { ProbeKindSchema, ProbeStateSchema } from "./probe-spec.ts";
import { ERROR_CODES } from "./errors.ts";

/**
 * What the host lets the agent do with eBPF, detected before any probe loads so
 * that an unsupported probe can say why. Every check is independent; a failed
 * one is `false` with a human-readable `reason`.
 */
const CheckSchema = z.object({ available: z.boolean(), reason: z.string().optional() });
export const CapabilitiesSchema = z.object({
  /** `/sys/kernel/btf/vmlinux` readable with the BTF magic: CO-RE programs can be relocated. */
  btf: z.boolean(),
  /** Whether the agent may call bpf(2) to load tracing programs (CAP_BPF or CAP_SYS_ADMIN). */
  bpfSyscall: z.object({ permitted: z.boolean(), reason: z.string().optional() }),
  /** tracefs mounted where libbpf looks, with `sched/sched_switch` present. */
  tracepoints: CheckSchema.extend({ tracefs: z.string().optional() }),
  /** System-wide perf events (what `cpu_profile` and tracepoint attachment need). */
  perfEvents: CheckSchema.extend({ paranoid: z.number().int().optional() }),
  /** Some kprobe attach mechanism exists (kprobe PMU, tracefs `kprobe_events`, debugfs `kprobes`). */
  kprobes: CheckSchema,
  /** Effective uid. */
  uid: z.number().int(),
  /** Effective capability set, hex as in `/proc/self/status` `CapEff`; "" if unreadable. */
  capEff: z.string(),
});
export type AgentCapabilities = z.infer<typeof CapabilitiesSchema>;

/** Facts an agent states about itself when it enrolls or re-identifies. */
export const AgentHelloSchema = z.object({
  agentVersion: z.string().min(1).max(64),
  hostname: z.string().min(1).max(253),
  os: z.string().max(128),
  kernel: z.string().max(128),
  arch: z.string().max(32),
  /** Labels derived from host facts (`probepilot.io/hostname`, …). */
  hostLabels: LabelsSchema,
  /** Labels given on the agent's command line (`--label k=v`). */
  userLabels: LabelsSchema,
  capabilities: CapabilitiesSchema,
});
export type AgentHello = z.infer<typeof AgentHelloSchema>;

/**
 * An NKEY user public key: `U` then 55 base32 characters. The agent makes its
 * key pair itself and sends only this; its seed never leaves the host.
 */
export const NkeyUserPublicKeySchema = z
  .string()
  .regex(/^U[A-Z2-7]{55}$/, "expected an NKEY user public key: \"U\" then 55 base32 characters (A-Z, 2-7)");

/**
 * `POST /v1/agents/enroll` on the control plane (HTTPS in production): a new agent
 * presents a per-tenant enrollment token and its own public key, and receives
 * its identity and a user JWT for that key. Nothing in the reply is secret
 * without the agent's seed, and a replay cannot take over an identity: the
 * same `requestId` with another key is refused.
 */
export const EnrollRequestSchema = z.object({
  enrollmentToken: z.string().min(1).max(128),
  /**
   * Random, chosen by the agent once per enrollment and kept across retries: if a reply
   * is lost (timeout) the retry finds the agent already created instead of a second one.
   */
  requestId: z.string().min(16).max(64),
  publicKey: NkeyUserPublicKeySchema,
  hello: AgentHelloSchema,
});
export type EnrollRequest = z.infer<typeof EnrollRequestSchema>;

/** Central config the control plane holds for one agent (KV `agentConfigBucket`, key = agent id). */
export const AgentConfigSchema = z.object({
  /** Labels set centrally: they extend or override host and user labels. */
  centralLabels: LabelsSchema,
  revision: z.number().int().nonnegative(),
});
export type AgentConfig = z.infer<typeof AgentConfigSchema>;

/** A user JWT for the agent's own public key, and when it expires (ms since the epoch). */
export const AgentJwtSchema = z.object({ jwt: z.string().min(1).max(16_384), expiresAt: z.number().int().positive() });
export type AgentJwt = z.infer<typeof AgentJwtSchema>;

export const EnrollReplySchema = AgentJwtSchema.extend({
  agentId: z.string(),
  tenantId: z.string(),
  config: AgentConfigSchema,
});
export type EnrollReply = z.infer<typeof EnrollReplySchema>;

/**
 * `POST /v1/agents/renew`: an agent whose JWT has expired (it was off longer than
 * the JWT lived, so NATS refuses it) proves it still holds its seed by signing
 * `renewChallenge(agentId, issuedAt)`; `issuedAt` must be within a few minutes of
 * the control plane's clock. A revoked agent is refused.
 */
export const RenewRequestSchema = z.object({
  agentId: z.string().min(1).max(64),
  issuedAt: z.number().int().positive(),
  /** Ed25519 signature of {@link renewChallenge}, base64url. */
  signature: z.string().min(1).max(256),
});
export type RenewRequest = z.infer<typeof RenewRequestSchema>;
export const renewChallenge = (agentId: string, issuedAt: number) => `probepilot-renew:${agentId}:${issuedAt}`;

/** The error body of the agent HTTP routes and the `ok: false` reply of agent requests over NATS. */
export const AgentErrorReplySchema = z.object({ ok: z.literal(false), code: z.enum(ERROR_CODES), message: z.string() });
export type AgentErrorReply = z.infer<typeof AgentErrorReplySchema>;

/** Reply to `hello` over NATS: the agent's central config. */
export const HelloReplySchema = z.discriminatedUnion("ok", [z.object({ ok: z.literal(true), config: AgentConfigSchema }), AgentErrorReplySchema]);
export type HelloReply = z.infer<typeof HelloReplySchema>;

/** Reply to `renew` over NATS: a fresh JWT for the same key. */
export const RenewReplySchema = z.discriminatedUnion("ok", [AgentJwtSchema.extend({ ok: z.literal(true) }), AgentErrorReplySchema]);
export type RenewReply = z.infer<typeof RenewReplySchema>;

/**
 * What an eBPF probe costs its host (brief: "every probe reports its own cost"):
 * kernel time from BPF program statistics, and its loader process's CPU and memory.
 * Percentages are of one core over the last interval.
 */
export const ProbeCostSchema = z.object({
  /** Run time of the probe's BPF programs since load (cumulative). */
  kernelTimeNs: z.number().nonnegative(),
  /** Times the probe's BPF programs ran since load (cumulative). */
  kernelRunCount: z.number().int().nonnegative(),
  kernelCpuPercent: z.number().nonnegative(),
  loaderCpuPercent: z.number().nonnegative(),
  loaderRssBytes: z.number().int().nonnegative(),
  /** When this was measured (unix ms). */
  at: z.number().int().nonnegative(),
});
export type ProbeCost = z.infer<typeof ProbeCostSchema>;

/** One probe's state on one agent. */
export const ProbeStatusSchema = z.object({
  kind: ProbeKindSchema,
  version: z.string(),
  policyId: z.string().optional(),
  state: ProbeStateSchema,
  error: z.string().max(4096).optional(),
  reason: z.string().max(1024).optional(),
  since: z.number().int().nonnegative(),
  /** Restarts after a failure since the agent started this probe. */
  restarts: z.number().int().nonnegative().optional(),
  cost: ProbeCostSchema.optional(),
});
export type ProbeStatus = z.infer<typeof ProbeStatusSchema>;

/**
 * The agent's telemetry backlog and losses (data flow 3): batches waiting in its
 * disk spool while NATS is unreachable, and batches it had to drop (counted
 * since the agent process started).
 */
export const AgentTelemetryStatusSchema = z.object({
  spooledBatches: z.number().int().nonnegative().default(0),
  spooledBytes: z.number().int().nonnegative().default(0),
  droppedBatches: z.number().int().nonnegative().default(0),
  droppedBytes: z.number().int().nonnegative().default(0),
});
export type AgentTelemetryStatus = z.infer<typeof AgentTelemetryStatusSchema>;

const StatusBaseSchema = z.object({
  agentId: z.string().min(1),
  tenantId: z.string().min(1),
  /** Random per agent process: a new value means the agent restarted. */
  instanceId: z.string().min(1).max(64),
  /** Counts this process's messages from 0 (diagnostics; the writer orders by stream position). */
  seq: z.number().int().nonnegative(),
  at: z.number().int().nonnegative(),
});

/**
 * Messages on the status stream, published on `statusSubject(tenant, agent)`:
 * `heartbeat` periodically and `status` on change carry the full current state
 * (so any single message is enough to catch up); `goodbye` on clean shutdown.
 */
export const AgentStatusMessageSchema = z.discriminatedUnion("type", [
  StatusBaseSchema.extend({
    type: z.enum(["heartbeat", "status"]),
    uptimeSec: z.number().nonnegative(),
    heartbeatIntervalSec: z.number().positive(),
    /** Effective labels (host, user and central merged). */
    labels: EffectiveLabelsSchema,
    /** Policy id → revision the agent has reconciled. */
    appliedPolicies: z.record(z.string(), z.number().int().nonnegative()),
    probes: z.array(ProbeStatusSchema),
    conflicts: z.array(z.object({ kind: z.string(), winner: z.string(), loser: z.string() })).default([]),
    /** Policy keys whose value the agent could not use, with the reason (kept out of its desired state). */
    invalidPolicies: z.record(z.string(), z.string().max(1024)).default({}),
    /** Absent from agents that predate the spool (and from other senders); each count defaults to 0. */
    telemetry: AgentTelemetryStatusSchema.optional(),
  }),
  StatusBaseSchema.extend({ type: z.literal("goodbye"), reason: z.string().max(256) }),
]);
export type AgentStatusMessage = z.infer<typeof AgentStatusMessageSchema>;

/** `revoked`: its credentials were revoked (`agents.revoke`); it can no longer connect, and rollouts count it as gone. */
export const AGENT_STATUSES = ["online", "offline", "revoked"] as const;
export const AgentStatusSchema = z.enum(AGENT_STATUSES);
export type AgentStatus = z.infer<typeof AgentStatusSchema>;
