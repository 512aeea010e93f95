import { EventSource } from "eventsource";
import { createTRPCClient, httpLink, httpSubscriptionLink, splitLink } from "@trpc/client";
import { telemetrySubject, type MetricSeries, type TelemetryBatch } from "@probepilot/shared";
import type { AppRouter } from "@probepilot/control-plane/trpc/app-router";
import type { Harness } from "./control-plane-harness.ts";

/** A typed client that runs subscriptions over SSE, authenticating with a header as any HTTP client would. */
export function sseClient(h: Harness, token = h.adminToken) {
  const url = `${h.cp.url}/trpc`;
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === "subscription",
        true: httpSubscriptionLink({
          url,
          EventSource,
          eventSourceOptions: () => ({ fetch: (input, init) => fetch(input, { ...init, headers: { ...init?.headers, authorization: `Bearer ${token}` } }) }),
        }),
        false: httpLink({ url, headers: { authorization: `Bearer ${token}` } }),
      }),
    ],
  });
}

let seq = 0;

/**
 * Publish one gauge batch for an agent through JetStream, as its `host` probe would:
 * the ingester stores it and the live tap (core NATS) sees it.
 */
export async function publishGauge(h: Harness, tenantId: string, agentId: string, metric: string, points: [number, number][], labels: Record<string, string> = {}): Promise<void> {
  await publishSeries(h, tenantId, agentId, [{ metric, kind: "gauge", labels, points }]);
}

/** Publish one batch of any series for an agent, as {@link publishGauge} does. */
export async function publishSeries(h: Harness, tenantId: string, agentId: string, series: MetricSeries[]): Promise<void> {
  const batch: TelemetryBatch = {
    v: 1,
    tenantId,
    agentId,
    probe: "host",
    probeVersion: "builtin",
    // Unique per suite (each has its own database): the ingest ledger skips a (agent, probe, seq) it has stored.
    seq: seq++,
    sentAt: Date.now(),
    series,
    histograms: [],
    events: [],
    profiles: [],
  };
  await h.cp.nc.jetstream().publish(telemetrySubject(tenantId, agentId, "host"), JSON.stringify(batch));
}
