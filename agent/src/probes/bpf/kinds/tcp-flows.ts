import type { BpfProbeDefinition } from "../bpf-probe.ts";
import { filterKnobs } from "../bpf-probe.ts";
import { CounterTotals, EventBudget } from "../decode-helpers.ts";
import { AF_INET, cstring, expectSize, ipAddress, PP_TCP_FLOW_EVENT as L, u16, u32, u64 } from "../records.ts";

const DIRECTIONS = ["unknown", "outbound", "inbound"] as const;

export const tcpFlows: BpfProbeDefinition<"tcp_flows"> = {
  kind: "tcp_flows",
  tracepoints: ["sock/inet_sock_set_state"],
  outputs: [
    { name: "tcp_flow", type: "event", labels: ["direction", "pid", "comm", "family", "saddr", "sport", "daddr", "dport", "bytesSent", "bytesReceived", "durationMs"], help: "One closed TCP connection: who opened it (outbound = connect, inbound = accept), its endpoints, payload bytes acknowledged by the peer (sent) and received, and how long it lived." },
    { name: "tcp_flows_closed_total", type: "counter", unit: "connections", labels: ["direction"], help: "Connections closed since the probe started (every flow, including those past the event budget)." },
    { name: "tcp_flow_bytes_sent_total", type: "counter", unit: "bytes", labels: ["direction"], help: "Payload bytes sent on connections closed since the probe started." },
    { name: "tcp_flow_bytes_received_total", type: "counter", unit: "bytes", labels: ["direction"], help: "Payload bytes received on connections closed since the probe started." },
  ],
  plan: (params, filters) => ({
    set: { ...filterKnobs(filters), min_duration_us: Math.round(params.minDurationMs * 1000) },
    ringbufs: ["events"],
    intervalMs: params.intervalMs,
  }),
  decoder(params) {
    const budget = new EventBudget("tcp_flows", params.maxEventsPerSec, params.intervalMs);
    const closed = new CounterTotals();
    const sent = new CounterTotals();
    const received = new CounterTotals();
    return {
      onEvent(_map, r, clock) {
        expectSize(r, L);
        const direction = DIRECTIONS[r[L.fields.direction.offset]!] ?? "unknown";
        const bytesSent = u64(r, L.fields.bytes_sent);
        const bytesReceived = u64(r, L.fields.bytes_received);
        const at = clock.toUnixMs(u64(r, L.fields.end_ns));
        // Totals count every flow; only the event is subject to the budget.
        closed.add(direction, { direction }, 1);
        sent.add(direction, { direction }, bytesSent);
        received.add(direction, { direction }, bytesReceived);
        if (!budget.admit()) return;
        const family = u16(r, L.fields.family);
        budget.push({
          name: "tcp_flow",
          at,
          attrs: {
            direction,
            pid: u32(r, L.fields.pid),
            comm: cstring(r, L.fields.comm),
            family: family === AF_INET ? "ipv4" : "ipv6",
            saddr: ipAddress(r, L.fields.saddr, family),
            sport: u16(r, L.fields.sport),
            daddr: ipAddress(r, L.fields.daddr, family),
            dport: u16(r, L.fields.dport),
            bytesSent,
            bytesReceived,
            durationMs: (u64(r, L.fields.end_ns) - u64(r, L.fields.start_ns)) / 1e6,
          },
        });
      },
      flush(at) {
        const { events, series } = budget.take(at);
        series.push(...closed.series("tcp_flows_closed_total", "connections", at), ...sent.series("tcp_flow_bytes_sent_total", "bytes", at), ...received.series("tcp_flow_bytes_received_total", "bytes", at));
        return { events, series };
      },
    };
  },
};
