import { z } from "zod";
import { describeZodError } from "@probepilot/shared";
import { ControlPlaneEnvSchema } from "../env.ts";

const cp = ControlPlaneEnvSchema.shape;

/** Configuration of a standalone `probepilot-ingester`; shared variables keep the control plane's rules. */
export const IngesterEnvSchema = z.object({
  DATABASE_URL: cp.DATABASE_URL,
  NATS_URL: cp.NATS_URL,
  PROBEPILOT_NATS_CA: cp.PROBEPILOT_NATS_CA,
  /**
   * The ingester's NATS credentials (a `.creds` file): a user that may only drain the
   * telemetry consumer and dead-letter poison. `probepilot-control-plane nats-creds ingester` issues one.
   */
  PROBEPILOT_NATS_CREDS: z.string({ error: "PROBEPILOT_NATS_CREDS is required: the ingester's .creds file (probepilot-control-plane nats-creds ingester --out FILE)" }).min(1),
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
