import path from "node:path";
import { z } from "zod";
import { describeZodError } from "@probepilot/shared";
import { ControlPlaneEnvSchema } from "../env.ts";

const cp = ControlPlaneEnvSchema.shape;

/**
 * Configuration of `npm start` (the whole local stack). Variables it shares with
 * the control plane keep the control plane's rules; `DATABASE_URL` and `NATS_URL`
 * are optional here (unset → embedded Postgres, local nats-server).
 */
export const StackEnvSchema = z.object({
  DATABASE_URL: cp.DATABASE_URL.optional(),
  NATS_URL: z.string().min(1).optional(),
  /** CA of an external NATS (with NATS_URL); the local nats-server's is made in <data dir>/tls. */
  PROBEPILOT_NATS_CA: cp.PROBEPILOT_NATS_CA,
  PROBEPILOT_DATA_DIR: cp.PROBEPILOT_DATA_DIR,
  PROBEPILOT_SECRET_KEY: cp.PROBEPILOT_SECRET_KEY,
  PROBEPILOT_SECRET_KEY_PREVIOUS: cp.PROBEPILOT_SECRET_KEY_PREVIOUS,
  PROBEPILOT_PORT: cp.PROBEPILOT_PORT,
  PROBEPILOT_LOG_LEVEL: cp.PROBEPILOT_LOG_LEVEL,
  /** Port of the embedded Postgres (only when DATABASE_URL is unset). */
  PROBEPILOT_PG_PORT: z.coerce.number().int().min(1).max(65535).default(7432),
  /** Port of the local nats-server (only when NATS_URL is unset). */
  PROBEPILOT_NATS_PORT: z.coerce.number().int().min(1).max(65535).default(7422),
  /** The local agent's /healthz and /metrics. */
  PROBEPILOT_AGENT_HTTP: z.string().default("127.0.0.1:7071"),
  /** "off" to start the stack without the local agent. */
  PROBEPILOT_LOCAL_AGENT: z.enum(["on", "off"]).default("on"),
});
export type StackEnv = z.infer<typeof StackEnvSchema> & { dataDir: string };

export function parseStackEnv(source: Record<string, string | undefined>): StackEnv {
  const parsed = StackEnvSchema.safeParse(source);
  if (!parsed.success) throw new Error(`invalid configuration: ${describeZodError(parsed.error)}`);
  return { ...parsed.data, dataDir: path.resolve(parsed.data.PROBEPILOT_DATA_DIR) };
}
