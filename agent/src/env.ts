import { parseArgs } from "node:util";
import path from "node:path";
import { z } from "zod";
import { DEFAULT_PROBE_KINDS, LabelsSchema, ProbeKindSchema, describeZodError, parseLabelAssignment, type Labels } from "@probepilot/shared";
import { DEFAULT_SPOOL_MAX_BYTES } from "./telemetry/spool.ts";

/** One `--default-probes` entry: a known probe kind, or an error naming the bad one and the valid ones. */
const DefaultProbeSchema = z.string().transform((value, ctx) => {
  const kind = ProbeKindSchema.safeParse(value);
  if (kind.success) return kind.data;
  ctx.addIssue({ code: "custom", message: `unknown probe kind "${value}"; expected one of ${ProbeKindSchema.options.join(", ")}, "defaults" (${DEFAULT_PROBE_KINDS.join(", ")}), or "none" alone for no probes` });
  return z.NEVER;
});

const MIN_SPOOL_MAX_BYTES = 4 * 1024 * 1024;

const SIZE_UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3 };

/** `536870912`, `512MiB`, `512M`, `2g` → bytes (binary units); NaN when it is none of these (the schema then says what is expected). */
export function parseByteSize(text: string): number {
  const m = /^\s*(\d+)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  return m && unit ? Number(m[1]) * unit : NaN;
}

/**
 * The agent's configuration: command-line flags win over environment variables,
 * which win over defaults. Parsed once at start; nothing else reads `process.env`.
 */
export const AgentEnvSchema = z.object({
  natsUrl: z.string().min(1),
  /** The control plane's HTTP(S) API: enrollment, and renewing credentials that expired while the agent was off. */
  controlPlaneUrl: z.string().regex(/^https?:\/\/[^/]/, "expected an http:// or https:// URL, e.g. https://probepilot.example:7070"),
  /** CA certificate(s) (PEM) that sign the NATS servers' and the control plane's TLS certificates; unset: the system's CAs. */
  caFile: z.string().min(1).nullable(),
  enrollToken: z.string().min(1).optional(),
  dataDir: z.string().min(1),
  /** `--label` labels: one label set, held to its limits here so that enrollment is not refused later for it. */
  labels: LabelsSchema,
  heartbeatSec: z.number().positive().max(3600),
  /** `host:port` for /healthz and /metrics, or null to serve neither. */
  httpAddr: z.string().regex(/^[^:]+:\d+$/, "expected host:port, e.g. 127.0.0.1:7071, or \"off\"").nullable(),
  /** Probes every agent runs whatever the policies say (a policy for the same kind overrides its parameters). */
  defaultProbes: z.array(DefaultProbeSchema).transform((kinds) => [...new Set(kinds)]),
  logLevel: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]),
  /** Bound on the telemetry spool's disk use; past it the oldest spooled batches are dropped (and counted). */
  /** Where `ppbpf` and `probes/<kind>.bpf.o` are (null: this checkout's bpf/build). */
  bpfDir: z.string().min(1).nullable(),
  spoolMaxBytes: z
    .number({ error: "expected a byte count such as 536870912, 512MiB or 2GiB" })
    .int("expected a whole number of bytes")
    .min(MIN_SPOOL_MAX_BYTES, `must be at least 4MiB (${MIN_SPOOL_MAX_BYTES} bytes): a single batch may take 1MiB`),
  /**
   * Stop (cleanly) when the parent process is gone: `"parent"` = whichever process started
   * this one, a number = that pid (which must be the parent: a parent that died before
   * this process even looked is caught too). Set by the local stack (`npm start`) for its agent.
   */
  exitWithParent: z
    .string()
    .regex(/^(0|1|[1-9][0-9]*)$/, 'PROBEPILOT_EXIT_WITH_PARENT: expected "1" (the parent process), a parent pid, or "0" (off)')
    .transform((v): "parent" | number | null => (v === "0" ? null : v === "1" ? "parent" : Number(v))),
});
export type AgentEnv = z.infer<typeof AgentEnvSchema>;

export const AGENT_USAGE = `usage: probepilot-agent [options]
       probepilot-agent simulate --agents N [options]   (fleet simulator: probepilot-agent simulate --help)

  --nats URL            NATS server(s), comma-separated; tls://host:port for TLS   (NATS_URL, default nats://127.0.0.1:4222)
  --control-plane URL   the control plane's API, for enrollment (PROBEPILOT_CONTROL_PLANE_URL, default http://127.0.0.1:7070)
  --ca FILE             CA certificate(s) of NATS and the control plane, PEM (PROBEPILOT_CA_FILE, default: system CAs)
  --enroll-token TOKEN  per-tenant enrollment token           (PROBEPILOT_ENROLL_TOKEN; needed on first start only)
  --data-dir DIR        identity and state                    (PROBEPILOT_AGENT_DATA_DIR, default /var/lib/probepilot-agent)
  --label k=v           extra label, repeatable               (PROBEPILOT_AGENT_LABELS, comma-separated k=v list)
  --heartbeat SECONDS   heartbeat interval                    (PROBEPILOT_HEARTBEAT_SEC, default 10)
  --http HOST:PORT|off  /healthz and /metrics                 (PROBEPILOT_AGENT_HTTP, default 127.0.0.1:7071)
  --default-probes LIST probes run without a policy           (PROBEPILOT_DEFAULT_PROBES, default "defaults": host and the
                        cheap eBPF probes; e.g. "defaults,file_open", "host", "none")
  --bpf-dir DIR         ppbpf and the probe objects           (PROBEPILOT_BPF_DIR, default <checkout>/bpf/build)
  --log-level LEVEL     trace|debug|info|warn|error|silent    (PROBEPILOT_LOG_LEVEL, default info)
  --spool-max-bytes N   telemetry spool bound, e.g. 512MiB    (PROBEPILOT_SPOOL_MAX_BYTES, default 512MiB)
  -h, --help            this text

  PROBEPILOT_EXIT_WITH_PARENT=1|PID (environment only) stops the agent when the process that
  started it (or PID, its parent) is gone; the local stack sets it to its own pid for its agent.
`;

/** Parse flags and environment into a validated config, or throw an Error whose message lists every problem. */
export function parseAgentEnv(argv: string[], env: Record<string, string | undefined>): AgentEnv {
  const { values } = parseArgs({
    args: argv,
    options: {
      nats: { type: "string" },
      "control-plane": { type: "string" },
      ca: { type: "string" },
      "enroll-token": { type: "string" },
      "data-dir": { type: "string" },
      label: { type: "string", multiple: true },
      heartbeat: { type: "string" },
      http: { type: "string" },
      "default-probes": { type: "string" },
      "log-level": { type: "string" },
      "spool-max-bytes": { type: "string" },
      "bpf-dir": { type: "string" },
    },
    strict: true,
    allowPositionals: false,
  });
  const labels: Labels = {};
  const assignments = [...(env.PROBEPILOT_AGENT_LABELS?.split(",").filter((s) => s.trim()) ?? []), ...(values.label ?? [])];
  for (const assignment of assignments) {
    const { key, value } = parseLabelAssignment(assignment.trim());
    labels[key] = value;
  }
  const http = values.http ?? env.PROBEPILOT_AGENT_HTTP ?? "127.0.0.1:7071";
  const defaultProbes = values["default-probes"] ?? env.PROBEPILOT_DEFAULT_PROBES ?? "defaults";
  const candidate = {
    natsUrl: values.nats ?? env.NATS_URL ?? "nats://127.0.0.1:4222",
    controlPlaneUrl: values["control-plane"] ?? env.PROBEPILOT_CONTROL_PLANE_URL ?? "http://127.0.0.1:7070",
    caFile: values.ca ?? env.PROBEPILOT_CA_FILE ?? null,
    enrollToken: values["enroll-token"] ?? env.PROBEPILOT_ENROLL_TOKEN,
    dataDir: path.resolve(values["data-dir"] ?? env.PROBEPILOT_AGENT_DATA_DIR ?? "/var/lib/probepilot-agent"),
    labels,
    heartbeatSec: Number(values.heartbeat ?? env.PROBEPILOT_HEARTBEAT_SEC ?? 10),
    httpAddr: http === "off" ? null : http,
    defaultProbes: defaultProbes === "none" ? [] : defaultProbes.split(",").map((s) => s.trim()).filter(Boolean).flatMap((s) => (s === "defaults" ? [...DEFAULT_PROBE_KINDS] : [s])),
    logLevel: values["log-level"] ?? env.PROBEPILOT_LOG_LEVEL ?? "info",
    bpfDir: values["bpf-dir"] ?? env.PROBEPILOT_BPF_DIR ?? null,
    spoolMaxBytes: parseByteSize(values["spool-max-bytes"] ?? env.PROBEPILOT_SPOOL_MAX_BYTES ?? String(DEFAULT_SPOOL_MAX_BYTES)),
    exitWithParent: env.PROBEPILOT_EXIT_WITH_PARENT || "0",
  };
  const parsed = AgentEnvSchema.safeParse(candidate);
  if (!parsed.success) throw new Error(`invalid agent configuration: ${describeZodError(parsed.error)}`);
  return parsed.data;
}
