import type { BpfProbeDefinition } from "../bpf-probe.ts";
import { filterKnobs } from "../bpf-probe.ts";
import { HistogramDeltas } from "../decode-helpers.ts";

export const runqueueLatency: BpfProbeDefinition<"runqueue_latency"> = {
  kind: "runqueue_latency",
  tracepoints: ["sched/sched_wakeup", "sched/sched_wakeup_new", "sched/sched_switch"],
  outputs: [
    { name: "runqueue_latency", type: "histogram", unit: "us", labels: [], help: "Time runnable tasks waited on a run queue before getting a CPU (wakeup or preemption to switch-in), per interval, log2 buckets." },
  ],
  plan: (params, filters) => ({ set: filterKnobs(filters), dumps: [{ map: "hist", drain: false }], intervalMs: params.intervalMs }),
  decoder() {
    const deltas = new HistogramDeltas("runqueue_latency", "us");
    let histogram: Buffer | null = null;
    return {
      onMapDump(map, dump) {
        if (map === "hist") histogram = dump.entries[0]?.value ?? null;
      },
      flush(at) {
        const h = histogram ? deltas.delta("", {}, histogram, at) : null;
        histogram = null;
        return { histograms: h ? [h] : [] };
      },
    };
  },
};
