import { z } from "zod";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describeZodError } from "@probepilot/shared";
import { DEFAULT_API_GUARD, type ApiGuardOptions } from "./http/api-guard-options.ts";

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
  /** API rate limit per verified token: sustained requests a second (0 = no limit) and burst (docs/api-hardening.md). */
  PROBEPILOT_RATE_LIMIT_RPS: z.coerce.number().nonnegative().default(DEFAULT_API_GUARD.tokenRate.perSecond),
  PROBEPILOT_RATE_LIMIT_BURST: z.coerce.number().int().positive().default(DEFAULT_API_GUARD.tokenRate.burst),
  /** The same per client address, for requests without a verified token (none, unknown, revoked, expired). */
  PROBEPILOT_RATE_LIMIT_ANON_RPS: z.coerce.number().nonnegative().default(DEFAULT_API_GUARD.anonRate.perSecond),
  PROBEPILOT_RATE_LIMIT_ANON_BURST: z.coerce.number().int().positive().default(DEFAULT_API_GUARD.anonRate.burst),
  /** Agent routes (enroll, renew), per client address: requests per second (0 = off) and burst. */
  PROBEPILOT_RATE_LIMIT_AGENT_RPS: z.coerce.number().nonnegative().default(DEFAULT_API_GUARD.agentRate.perSecond),
  PROBEPILOT_RATE_LIMIT_AGENT_BURST: z.coerce.number().int().positive().default(DEFAULT_API_GUARD.agentRate.burst),
  /** Larger API request bodies are refused with 413 before they are read. */
  PROBEPILOT_MAX_BODY_BYTES: z.coerce.number().int().min(1024, "PROBEPILOT_MAX_BODY_BYTES must be at least 1024").default(DEFAULT_API_GUARD.maxBodyBytes),
  /** Origins whose pages may call the API (comma-separated `https://host[:port]`, or `*`); none by default. */
  PROBEPILOT_CORS_ORIGINS: z
    .string()
    .default("")
    .transform((text, ctx) => {
      const origins = text.split(",").map((o) => o.trim()).filter(Boolean);
      for (const o of origins) {
        if (o === "*") continue;
        let url: URL | null = null;
        try {
          url = new URL(o);
        } catch {
          /* reported below */
        }
        const bare = url && url.pathname === "/" && !url.search && !url.hash && !url.username && !url.password && !/^[a-z]+:\/\/[^/]*\/./i.test(o);
        if (!url || !["http:", "https:"].includes(url.protocol) || !bare) {
          ctx.addIssue({ code: "custom", message: `PROBEPILOT_CORS_ORIGINS: "${o}" is not an origin; expected scheme://host[:port] such as https://grafana.example.com, or *` });
        }
      }
      return origins.map((o) => (o === "*" || !URL.canParse(o) ? o : new URL(o).origin));
    }),
  /** Behind one reverse proxy: take the client address (for the per-address limit) from the last X-Forwarded-For entry. */
  PROBEPILOT_TRUST_PROXY: z.enum(["on", "off"]).default("off"),
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

/** The API's guards (rate limits, body limit, CORS) from the `PROBEPILOT_RATE_LIMIT_*`, `…_MAX_BODY_BYTES`, `…_CORS_ORIGINS` and `…_TRUST_PROXY` settings. */
export function apiGuardOptionsFromEnv(env: ControlPlaneEnv): ApiGuardOptions {
  return {
    tokenRate: { perSecond: env.PROBEPILOT_RATE_LIMIT_RPS, burst: env.PROBEPILOT_RATE_LIMIT_BURST },
    anonRate: { perSecond: env.PROBEPILOT_RATE_LIMIT_ANON_RPS, burst: env.PROBEPILOT_RATE_LIMIT_ANON_BURST },
    agentRate: { perSecond: env.PROBEPILOT_RATE_LIMIT_AGENT_RPS, burst: env.PROBEPILOT_RATE_LIMIT_AGENT_BURST },
    maxBodyBytes: env.PROBEPILOT_MAX_BODY_BYTES,
    corsOrigins: env.PROBEPILOT_CORS_ORIGINS,
    trustProxy: env.PROBEPILOT_TRUST_PROXY === "on",
  };
}
