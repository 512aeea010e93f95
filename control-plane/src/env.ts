import { z } from "zod";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describeZodError } from "@probepilot/shared";

/**
 * The control plane's configuration, parsed once at boot from the environment.
 * Handlers never read `process.env`: they get this object.
 */
export const ControlPlaneEnvSchema = z.object({
  DATABASE_URL: z.string().url("DATABASE_URL must be a postgres:// URL"),
  NATS_URL: z.string().min(1).default("nats://127.0.0.1:4222"),
  /** CA certificate (PEM) that signs the NATS servers' TLS certificates; unset: the system's CAs (with `tls://` URLs). */
  PROBEPILOT_NATS_CA: z.string().min(1).optional(),
  /**
   * Key (32 bytes, base64 or hex) sealing the NATS signing keys stored in Postgres. Every
   * control plane of one deployment needs the same one. Unset: `<data dir>/secret.key`, made on first start.
   */
  PROBEPILOT_SECRET_KEY: z.string().min(1).optional(),
  /** Comma-separated earlier keys, while rotating `PROBEPILOT_SECRET_KEY` (values are sealed again with the new one). */
  PROBEPILOT_SECRET_KEY_PREVIOUS: z.string().min(1).optional(),
  /** Lifetime of an agent's NATS user JWT (seconds); agents renew at two thirds of it. 10 s (tests) to 7 days. */
  PROBEPILOT_AGENT_JWT_TTL_SEC: z.coerce.number().int().min(10).max(7 * 24 * 3600).default(24 * 3600),
  /** Serve HTTPS with this certificate chain and key (PEM files); both or neither. */
  PROBEPILOT_TLS_CERT: z.string().min(1).optional(),
  PROBEPILOT_TLS_KEY: z.string().min(1).optional(),
  PROBEPILOT_PORT: z.coerce.number().int().min(0).max(65535).default(7070),
  PROBEPILOT_HOST: z.string().default("127.0.0.1"),
  PROBEPILOT_DATA_DIR: z.string().default(".probepilot"),
  /** Seconds without a heartbeat (as a multiple of the agent's own interval) before an agent is marked offline. */
  PROBEPILOT_OFFLINE_AFTER_HEARTBEATS: z.coerce.number().positive().default(3),
  /** How often the offline sweeper runs. */
  PROBEPILOT_SWEEP_INTERVAL_MS: z.coerce.number().int().positive().default(2000),
  /** Run the telemetry ingester inside the control plane ("off" when standalone ingesters do it). */
  PROBEPILOT_INGEST: z.enum(["on", "off"]).default("on"),
  /** Retention per tier, in days. */
  PROBEPILOT_RETENTION_RAW_DAYS: z.coerce.number().positive().default(2),
  PROBEPILOT_RETENTION_1M_DAYS: z.coerce.number().positive().default(30),
  PROBEPILOT_RETENTION_1H_DAYS: z.coerce.number().positive().default(400),
  /** The built web app (`vite build` output) served at `/`; defaults to the checkout's web/dist. */
  PROBEPILOT_WEB_DIR: z.string().default(fileURLToPath(new URL("../../web/dist", import.meta.url))),
  PROBEPILOT_LOG_LEVEL: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
});
export type ControlPlaneEnv = z.infer<typeof ControlPlaneEnvSchema> & { dataDir: string };

/** Parse `source` (normally `process.env`), failing with one readable line per problem. */
export function parseControlPlaneEnv(source: Record<string, string | undefined>): ControlPlaneEnv {
  const result = ControlPlaneEnvSchema.refine((env) => Boolean(env.PROBEPILOT_TLS_CERT) === Boolean(env.PROBEPILOT_TLS_KEY), {
    message: "PROBEPILOT_TLS_CERT and PROBEPILOT_TLS_KEY go together: set both to serve HTTPS, or neither",
    path: ["PROBEPILOT_TLS_CERT"],
  }).safeParse(source);
  if (!result.success) {
    throw new Error(`invalid control-plane configuration: ${describeZodError(result.error)}`);
  }
  return { ...result.data, dataDir: path.resolve(result.data.PROBEPILOT_DATA_DIR) };
}

const DAY_MS = 24 * 3600 * 1000;

/** Retention per tier, in ms, from the `PROBEPILOT_RETENTION_*_DAYS` settings. */
export function retentionOf(env: Pick<ControlPlaneEnv, "PROBEPILOT_RETENTION_RAW_DAYS" | "PROBEPILOT_RETENTION_1M_DAYS" | "PROBEPILOT_RETENTION_1H_DAYS">) {
  return { rawMs: env.PROBEPILOT_RETENTION_RAW_DAYS * DAY_MS, rollup1mMs: env.PROBEPILOT_RETENTION_1M_DAYS * DAY_MS, rollup1hMs: env.PROBEPILOT_RETENTION_1H_DAYS * DAY_MS };
}
