import { z } from "zod";
import { describeZodError } from "@probepilot/shared";
import { ControlPlaneEnvSchema } from "../env.ts";

const cp = ControlPlaneEnvSchema.shape;

/** Configuration of a standalone `probepilot-ingester`; shared variables keep the control plane's rules. */
export const IngesterEnvSchema = z.object({
  DATABASE_URL: cp.DATABASE_URL,
  NATS_URL: cp.NATS_URL,
  PROBEPILOT_RETENTION_RAW_DAYS: cp.PROBEPILOT_RETENTION_RAW_DAYS,
  PROBEPILOT_RETENTION_1M_DAYS: cp.PROBEPILOT_RETENTION_1M_DAYS,
  PROBEPILOT_RETENTION_1H_DAYS: cp.PROBEPILOT_RETENTION_1H_DAYS,
  PROBEPILOT_LOG_LEVEL: cp.PROBEPILOT_LOG_LEVEL,
  /** `/healthz` and `/metrics` of this ingester. */
  PROBEPILOT_INGESTER_HTTP: z.string().regex(/^[^:]+:\d+$/, "expected host:port, e.g. 127.0.0.1:7072").default("127.0.0.1:7072"),
});
export type IngesterEnv = z.infer<typeof IngesterEnvSchema>;

export function parseIngesterEnv(source: Record<string, string | undefined>): IngesterEnv {
  const parsed = IngesterEnvSchema.safeParse(source);
  if (!parsed.success) throw new Error(`invalid ingester configuration: ${describeZodError(parsed.error)}`);
  return parsed.data;
}
