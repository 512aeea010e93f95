import { Counter, type Registry } from "prom-client";

/** What the API's guards refuse and end, on the control plane's registry (`/metrics`). */
export function createGuardMetrics(registry: Registry) {
  const existing = (name: string) => registry.getSingleMetric(name) as Counter<string> | undefined;
  // One set per registry: a second HTTP app on the same registry (tests) shares them.
  return {
    rateLimited: (existing("probepilot_http_rate_limited_total") ??
      new Counter({
        name: "probepilot_http_rate_limited_total",
        help: "API requests refused with 429, by scope: token (a verified API token's bucket), address (requests without a verified token, per client address) or agent_address (the agent routes, enroll and renew, per client address)",
        labelNames: ["scope"] as const,
        registers: [registry],
      })) as Counter<"scope">,
    refused: (existing("probepilot_http_refused_total") ??
      new Counter({
        name: "probepilot_http_refused_total",
        help: "API requests refused before reaching tRPC, by reason: body_too_large (413), cross_origin (403)",
        labelNames: ["reason"] as const,
        registers: [registry],
      })) as Counter<"reason">,
    liveStreamsEnded: (existing("probepilot_live_streams_ended_total") ??
      new Counter({
        name: "probepilot_live_streams_ended_total",
        help: "Live streams (SSE subscriptions) ended because their API token was revoked or expired, by reason",
        labelNames: ["reason"] as const,
        registers: [registry],
      })) as Counter<"reason">,
  };
}
export type GuardMetrics = ReturnType<typeof createGuardMetrics>;
