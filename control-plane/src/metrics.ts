import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** The control plane's Prometheus metrics, on their own registry (several instances can share a test process). */
export function createControlPlaneMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "probepilot_cp_" });
  const m = {
    registry,
    statusMessages: new Counter({ name: "probepilot_status_messages_total", help: "Status messages consumed, by outcome", labelNames: ["outcome"] as const, registers: [registry] }),
    statusBatchSeconds: new Histogram({ name: "probepilot_status_batch_seconds", help: "Time to write one status batch to Postgres", buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers: [registry] }),
    deadLetters: new Counter({ name: "probepilot_dead_letters_total", help: "Messages sent to the dead-letter subject, by source and reason class", labelNames: ["source", "reason"] as const, registers: [registry] }),
    enrollments: new Counter({ name: "probepilot_enroll_requests_total", help: "Enroll requests, by outcome", labelNames: ["outcome"] as const, registers: [registry] }),
    agentRequests: new Counter({ name: "probepilot_agent_requests_total", help: "Agent requests (hello and renew over NATS, renew over HTTP), by verb and outcome", labelNames: ["verb", "outcome"] as const, registers: [registry] }),
    agentsRevoked: new Counter({ name: "probepilot_agents_revoked_total", help: "Agents revoked (their NATS keys pushed to the servers' revocation lists)", registers: [registry] }),
    agentsMarkedOffline: new Counter({ name: "probepilot_agents_marked_offline_total", help: "Agents marked offline after missing heartbeats", registers: [registry] }),
    httpRequests: new Counter({ name: "probepilot_http_requests_total", help: "HTTP requests, by route class and status", labelNames: ["route", "status"] as const, registers: [registry] }),
    rolloutEngineLeader: new Gauge({ name: "probepilot_rollout_engine_leader", help: "1 while this control plane drives the rollouts (holds the engine's advisory lock)", registers: [registry] }),
    rolloutEnginePassSeconds: new Histogram({ name: "probepilot_rollout_engine_pass_seconds", help: "Time of one rollout engine pass (evaluations and policy writes)", buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 5], registers: [registry] }),
    rolloutPolicyWrites: new Counter({ name: "probepilot_rollout_policy_writes_total", help: "Policy KV writes by the rollout engine, by outcome (put, delete)", labelNames: ["outcome"] as const, registers: [registry] }),
    rolloutEvaluationErrors: new Counter({ name: "probepilot_rollout_evaluation_errors_total", help: "Rollout evaluations that failed (retried at the next pass; see the log)", registers: [registry] }),
    rolloutAgentTransitions: new Counter({ name: "probepilot_rollout_agent_transitions_total", help: "Per-agent rollout state changes written", registers: [registry] }),
    natsConnected: new Gauge({ name: "probepilot_nats_connected", help: "1 while the NATS connection is up", registers: [registry] }),
  };
  return m;
}
export type ControlPlaneMetrics = ReturnType<typeof createControlPlaneMetrics>;
