import { Hono } from "hono";
import type { Registry } from "prom-client";

export type HealthCheck = () => Promise<{ ok: boolean; checks: Record<string, { ok: boolean; detail?: string }> }>;

/** `/healthz` (200 when every dependency answers, 503 naming the one that does not) and Prometheus `/metrics`. */
export function opsRoutes(health: HealthCheck, registry: Registry): Hono {
  const ops = new Hono();
  ops.get("/healthz", async (c) => {
    const report = await health();
    return c.json(report, report.ok ? 200 : 503);
  });
  ops.get("/metrics", async (c) => {
    c.header("Content-Type", registry.contentType);
    return c.body(await registry.metrics());
  });
  return ops;
}
