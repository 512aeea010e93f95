import { Hono } from "hono";
import { serve, type ServerType } from "@hono/node-server";
import type { Registry } from "prom-client";

export type AgentHealth = () => { ok: boolean; [k: string]: unknown };

/** The agent's `/healthz` (503 until enrolled and while NATS is down) and `/metrics`. */
export function startOpsServer(addr: string, health: AgentHealth, registry: Registry): Promise<ServerType> {
  const [hostname, port] = [addr.slice(0, addr.lastIndexOf(":")), Number(addr.slice(addr.lastIndexOf(":") + 1))];
  const app = new Hono();
  app.get("/healthz", (c) => {
    const report = health();
    return c.json(report, report.ok ? 200 : 503);
  });
  app.get("/metrics", async (c) => {
    c.header("Content-Type", registry.contentType);
    return c.body(await registry.metrics());
  });
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, port, hostname }, () => resolve(server));
    server.once("error", (e) => reject(new Error(`agent /healthz and /metrics cannot listen on ${addr}: ${e.message}`, { cause: e })));
  });
}
