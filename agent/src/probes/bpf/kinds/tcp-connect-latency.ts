import type { BpfProbeDefinition } from "../bpf-probe.ts";
import { filterKnobs } from "../bpf-probe.ts";
import { CounterTotals, HistogramDeltas } from "../decode-helpers.ts";
import { PP_COUNT, u64 } from "../records.ts";

export const tcpConnectLatency: BpfProbeDefinition<"tcp_connect_latency"> = {
  kind: "tcp_connect_latency",
  tracepoints: ["sock/inet_sock_set_state"],
  outputs: [
    { name: "tcp_connect_latency", type: "histogram", unit: "us", labels: [], help: "Time from connect() sending SYN (SYN_SENT) to ESTABLISHED, per interval, log2 buckets." },
    { name: "tcp_connect_failures_total", type: "counter", unit: "connections", labels: [], help: "Active connects that went from SYN_SENT straight to CLOSE (refused, timed out, reset)." },
  ],
  plan: (params, filters) => ({
    set: filterKnobs(filters),
    // Cumulative in the kernel; the agent sends deltas (no read-then-zero race).
    dumps: [
      { map: "hist", drain: false },
      { map: "counts", drain: false },
    ],
    intervalMs: params.intervalMs,
  }),
  decoder() {
    const deltas = new HistogramDeltas("tcp_connect_latency", "us");
    let histogram: Buffer | null = null;
    const failures = new CounterTotals();
    return {
      onMapDump(map, dump) {
        if (map === "hist") histogram = dump.entries[0]?.value ?? null;
        if (map === "counts" && dump.entries[0]) failures.set("", {}, u64(dump.entries[0].value, PP_COUNT.fields.count));
      },
      flush(at) {
        const h = histogram ? deltas.delta("", {}, histogram, at) : null;
        histogram = null;
        return { histograms: h ? [h] : [], series: failures.series("tcp_connect_failures_total", "connections", at) };
      },
    };
  },
};
