import { parseArgs } from "node:util";
import { tmpdir } from "node:os";
import path from "node:path";
import { z } from "zod";
import {
  DEFAULT_STRATA_SPEC,
  FleetSpecError,
  parseCostSpec,
  parseFailSpec,
  parseLabelsSpec,
  parseStrataSpec,
  parseUnsupportedSpec,
  type LabelsSpec,
  type ProbeRules,
  type StrataSpec,
} from "./fleet-spec.ts";

/** Largest fleet one simulator process takes. */
export const MAX_SIMULATED_AGENTS = 50_000;
/** Default data dir: writable without root, and stable, so a second run finds the identities of the first. */
export const DEFAULT_SIM_DATA_DIR = path.join(tmpdir(), "probepilot-sim");
export const DEFAULT_SIM_OPS_PORT = 7072;

export const SIMULATE_USAGE = `usage: probepilot-agent simulate --agents N [options]

Runs N simulated agents in this process: the real agent code (enrollment, policy watch,
reconcile, probe supervisors, status reports) on simulated hosts with simulated probes,
over a few shared NATS connections. Agents run no default probes: only what policies ask for.

  --agents N               how many agents, 1..${MAX_SIMULATED_AGENTS} (required)
  --labels SPEC            user labels, e.g. "env=prod:80%|staging:20%,region=eu|us|ap,team=net":
                           a|b|c gives agent i the (i mod 3)-th value; a:70%|b:30% splits by share
  --strata SPEC            host types KERNEL/ARCH/OS[=WEIGHT], comma-separated
                           (default "${DEFAULT_STRATA_SPEC}")
  --fail SPEC              KIND[@VERSION]=RATIO: share of agents on which the probe fails to start,
                           e.g. "tcp_flows@v2=30%" (no @VERSION: every version; KIND * : every kind)
  --unsupported SPEC       KIND[@VERSION]=RATIO: share of agents reporting the probe unsupported
  --cost SPEC              KIND[@VERSION]=PERCENT: CPU (% of one core) a running probe reports
                           (default 0.2 for every probe), e.g. "tcp_flows@v3=2.5%"
  --start-delay-ms MIN-MAX how long a simulated probe takes to start  (default 20-100)
  --nats URL               NATS server(s), comma-separated           (NATS_URL, default nats://127.0.0.1:4222)
  --creds FILE             the tenant's simulator credentials        (PROBEPILOT_SIM_CREDS; required; made by
                                                                      \`probepilot nats simulator-creds --out FILE\`)
  --control-plane URL      where agents enroll                       (PROBEPILOT_CONTROL_PLANE_URL, default http://127.0.0.1:7070)
  --ca FILE                CA of NATS and the control plane, PEM     (PROBEPILOT_CA_FILE, default: system CAs)
  --connections K          NATS connections shared by the agents     (default ceil(N / 1000))
  --enroll-token TOKEN     enrollment token                          (PROBEPILOT_ENROLL_TOKEN; not needed when
                                                                      every agent has an identity in --data-dir)
  --enroll-concurrency C   agents enrolling at once                  (default 100)
  --data-dir DIR           identities, one dir per agent             (PROBEPILOT_SIM_DATA_DIR, default
                                                                      ${DEFAULT_SIM_DATA_DIR}); a second run re-uses them
  --name-prefix P          host names sim-P-00001…; distinct per simulator on one control plane (default fleet)
  --heartbeat-sec S        heartbeat interval                        (default 30)
  --ops-port PORT|off      /healthz and /metrics on 127.0.0.1        (default ${DEFAULT_SIM_OPS_PORT}; 0 picks a free port)
  --log-level LEVEL        the simulator's own log                   (PROBEPILOT_LOG_LEVEL, default info)
  --agent-log-level LEVEL  every simulated agent's log               (default silent; warn shows each agent's problems)
  -h, --help               this text
`;

const LogLevelSchema = z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"], { error: "expected trace, debug, info, warn, error, fatal or silent" });
const wholeNumber = (min: number, max: number) =>
  z.number({ error: `expected a whole number from ${min} to ${max}` }).int(`expected a whole number from ${min} to ${max}`).min(min, `expected at least ${min}`).max(max, `expected at most ${max}`);

/** The simulator's configuration, validated: flags win over environment variables, which win over defaults. */
export const SimulateEnvSchema = z
  .object({
    agents: wholeNumber(1, MAX_SIMULATED_AGENTS),
    connections: wholeNumber(1, MAX_SIMULATED_AGENTS).nullable(),
    natsUrl: z.string().min(1, "expected a URL such as nats://127.0.0.1:4222"),
    credsFile: z.string({ error: "required: the tenant's simulator credentials (probepilot nats simulator-creds --out FILE)" }).min(1),
    controlPlaneUrl: z.string().regex(/^https?:\/\/[^/]/, "expected an http:// or https:// URL, e.g. http://127.0.0.1:7070"),
    caFile: z.string().min(1).nullable(),
    enrollToken: z.string().min(1).optional(),
    dataDir: z.string().min(1),
    namePrefix: z.string().regex(/^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$/, "expected 1 to 40 lower-case letters, digits or '-', starting and ending with a letter or digit (it becomes part of host names)"),
    heartbeatSec: z.number({ error: "expected seconds, e.g. 30" }).positive("expected more than 0 seconds").max(3600, "expected at most 3600 seconds"),
    enrollConcurrency: wholeNumber(1, 10_000),
    startDelayMs: z
      .object({ min: z.number({ error: "expected MIN-MAX in milliseconds, e.g. 20-100" }), max: z.number({ error: "expected MIN-MAX in milliseconds, e.g. 20-100" }).max(600_000, "expected at most 600000 ms") })
      .refine((d) => d.min <= d.max, "MIN must not exceed MAX"),
    opsPort: wholeNumber(0, 65_535).nullable(),
    logLevel: LogLevelSchema,
    agentLogLevel: LogLevelSchema,
  })
  .refine((e) => e.connections === null || e.connections <= e.agents, { message: "expected at most one connection per agent", path: ["connections"] });

/** The flag each field comes from, for messages. */
const FLAGS: Record<string, string> = {
  agents: "--agents",
  connections: "--connections",
  natsUrl: "--nats",
  credsFile: "--creds",
  controlPlaneUrl: "--control-plane",
  caFile: "--ca",
  enrollToken: "--enroll-token",
  dataDir: "--data-dir",
  namePrefix: "--name-prefix",
  heartbeatSec: "--heartbeat-sec",
  enrollConcurrency: "--enroll-concurrency",
  startDelayMs: "--start-delay-ms",
  opsPort: "--ops-port",
  logLevel: "--log-level",
  agentLogLevel: "--agent-log-level",
};

export type SimulateEnv = z.infer<typeof SimulateEnvSchema> & {
  labels: LabelsSpec;
  strata: StrataSpec;
  fail: ProbeRules;
  unsupported: ProbeRules;
  cost: ProbeRules;
};

/** `20-100` → {min: 20, max: 100}; `50` → {min: 50, max: 50}; NaN bounds when malformed (the schema says what is expected). */
function parseDelayRange(text: string): { min: number; max: number } {
  const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(text);
  return m ? { min: Number(m[1]), max: Number(m[2] ?? m[1]) } : { min: NaN, max: NaN };
}

/**
 * Parse `probepilot-agent simulate` flags (without the `simulate` word) and the
 * environment into a validated config, or throw an Error whose message lists every problem.
 */
export function parseSimulateEnv(argv: string[], env: Record<string, string | undefined>): SimulateEnv {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        agents: { type: "string" },
        labels: { type: "string" },
        strata: { type: "string" },
        fail: { type: "string" },
        unsupported: { type: "string" },
        cost: { type: "string" },
        "start-delay-ms": { type: "string" },
        nats: { type: "string" },
        creds: { type: "string" },
        "control-plane": { type: "string" },
        ca: { type: "string" },
        connections: { type: "string" },
        "enroll-token": { type: "string" },
        "enroll-concurrency": { type: "string" },
        "data-dir": { type: "string" },
        "name-prefix": { type: "string" },
        "heartbeat-sec": { type: "string" },
        "ops-port": { type: "string" },
        "log-level": { type: "string" },
        "agent-log-level": { type: "string" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new Error(`invalid simulate arguments: ${(err as Error).message}`);
  }
  const problems: string[] = [];
  const spec = <T>(parse: () => T, fallback: T): T => {
    try {
      return parse();
    } catch (err) {
      if (!(err instanceof FleetSpecError)) throw err;
      problems.push(err.message);
      return fallback;
    }
  };
  const labels = spec(() => parseLabelsSpec(values.labels ?? ""), []);
  const strata = spec(() => parseStrataSpec(values.strata ?? DEFAULT_STRATA_SPEC), []);
  const fail = spec(() => parseFailSpec(values.fail ?? ""), []);
  const unsupported = spec(() => parseUnsupportedSpec(values.unsupported ?? ""), []);
  const cost = spec(() => parseCostSpec(values.cost ?? ""), []);
  if (values.agents === undefined) problems.push("--agents: required, e.g. --agents 1000");
  const ops = values["ops-port"] ?? String(DEFAULT_SIM_OPS_PORT);
  const num = (text: string | undefined) => (text === undefined || text.trim() === "" ? NaN : Number(text));
  const parsed = SimulateEnvSchema.safeParse({
    agents: values.agents === undefined ? 1 : num(values.agents),
    connections: values.connections === undefined ? null : num(values.connections),
    natsUrl: values.nats ?? env.NATS_URL ?? "nats://127.0.0.1:4222",
    credsFile: values.creds ?? env.PROBEPILOT_SIM_CREDS,
    controlPlaneUrl: values["control-plane"] ?? env.PROBEPILOT_CONTROL_PLANE_URL ?? "http://127.0.0.1:7070",
    caFile: values.ca ?? env.PROBEPILOT_CA_FILE ?? null,
    enrollToken: values["enroll-token"] ?? env.PROBEPILOT_ENROLL_TOKEN,
    dataDir: path.resolve(values["data-dir"] ?? env.PROBEPILOT_SIM_DATA_DIR ?? DEFAULT_SIM_DATA_DIR),
    namePrefix: values["name-prefix"] ?? "fleet",
    heartbeatSec: num(values["heartbeat-sec"] ?? "30"),
    enrollConcurrency: num(values["enroll-concurrency"] ?? "100"),
    startDelayMs: parseDelayRange(values["start-delay-ms"] ?? "20-100"),
    opsPort: ops === "off" ? null : num(ops),
    logLevel: values["log-level"] ?? env.PROBEPILOT_LOG_LEVEL ?? "info",
    agentLogLevel: values["agent-log-level"] ?? "silent",
  });
  if (!parsed.success) {
    // One problem per flag (the first), named by the flag rather than the field.
    const seen = new Set<string>();
    for (const issue of parsed.error.issues) {
      const field = String(issue.path[0] ?? "");
      if (seen.has(field)) continue;
      seen.add(field);
      problems.push(`${FLAGS[field] ?? field}: ${issue.message}`);
    }
  }
  if (problems.length > 0 || !parsed.success) throw new Error(`invalid simulate arguments: ${problems.join("; ")}`);
  return { ...parsed.data, labels, strata, fail, unsupported, cost };
}
