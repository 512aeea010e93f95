import type { BpfProbeDefinition } from "../bpf-probe.ts";
import { filterKnobs } from "../bpf-probe.ts";
import { CounterTotals, EventBudget } from "../decode-helpers.ts";
import { cstring, expectSize, PP_EXIT_EVENT as L, u32, u64 } from "../records.ts";

export const processExit: BpfProbeDefinition<"process_exit"> = {
  kind: "process_exit",
  tracepoints: ["sched/sched_process_exit"],
  outputs: [
    { name: "process_exit", type: "event", labels: ["pid", "ppid", "comm", "exitCode", "signal", "durationMs"], help: "A process (thread-group leader) exited: its exit code as wait(2) reports it, the signal that killed it (0 if none) and how long it ran." },
    { name: "process_exits_total", type: "counter", unit: "processes", labels: ["outcome"], help: "Process exits since the probe started, by outcome: ok (code 0), error (non-zero code), signal." },
  ],
  plan: (params, filters) => ({ set: filterKnobs(filters), ringbufs: ["events"], intervalMs: params.intervalMs }),
  decoder(params) {
    const budget = new EventBudget("process_exit", params.maxEventsPerSec, params.intervalMs);
    const exits = new CounterTotals();
    return {
      onEvent(_map, r, clock) {
        expectSize(r, L);
        const exitCode = u32(r, L.fields.exit_code);
        const signal = u32(r, L.fields.signal);
        const outcome = signal !== 0 ? "signal" : exitCode === 0 ? "ok" : "error";
        exits.add(outcome, { outcome }, 1);
        if (!budget.admit()) return;
        budget.push({
          name: "process_exit",
          at: clock.toUnixMs(u64(r, L.fields.ts_ns)),
          attrs: {
            pid: u32(r, L.fields.pid),
            ppid: u32(r, L.fields.ppid),
            comm: cstring(r, L.fields.comm),
            exitCode,
            signal,
            durationMs: u64(r, L.fields.duration_ns) / 1e6,
          },
        });
      },
      flush(at) {
        const { events, series } = budget.take(at);
        series.push(...exits.series("process_exits_total", "processes", at));
        return { events, series };
      },
    };
  },
};
