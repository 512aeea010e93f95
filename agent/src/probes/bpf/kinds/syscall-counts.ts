import type { BpfProbeDefinition } from "../bpf-probe.ts";
import { filterKnobs } from "../bpf-probe.ts";
import { CounterTotals, IDLE_KEY_MS, labelValue } from "../decode-helpers.ts";
import { cstring, PP_COUNT, PP_SYSCALL_KEY as K, u32, u64 } from "../records.ts";
import { syscallName } from "../syscall-names.ts";

export const syscallCounts: BpfProbeDefinition<"syscall_counts"> = {
  kind: "syscall_counts",
  tracepoints: ["raw_syscalls/sys_enter"],
  outputs: [
    { name: "syscalls_total", type: "counter", unit: "calls", labels: ["pid", "comm", "syscall"], help: "System calls made, per process and syscall name (raw_syscalls:sys_enter). Each interval the `topN` busiest (process, syscall) pairs get their own series; the rest add to pid=\"\", comm=\"\", syscall=\"other\"." },
    { name: "syscall_counts_dropped_total", type: "counter", unit: "calls", labels: [], help: "Syscalls not counted because the kernel map was full (raise the interval's drain rate with a shorter intervalMs, or filter)." },
  ],
  plan: (params, filters) => ({
    set: filterKnobs(filters),
    dumps: [
      { map: "counts", drain: true },
      { map: "drops", drain: false },
    ],
    intervalMs: params.intervalMs,
  }),
  decoder(params) {
    const totals = new CounterTotals(IDLE_KEY_MS);
    let entries: { key: Buffer; value: Buffer }[] = [];
    const drops = new CounterTotals();
    return {
      onMapDump(map, dump) {
        if (map === "counts") entries = dump.entries;
        if (map === "drops" && dump.entries[0]) drops.set("", {}, u64(dump.entries[0].value, PP_COUNT.fields.count));
      },
      flush(at) {
        const rows = entries.map(({ key, value }) => ({ key, count: u64(value, PP_COUNT.fields.count) })).sort((a, b) => b.count - a.count);
        entries = [];
        rows.forEach(({ key, count }, i) => {
          if (i >= params.topN) return totals.add("other", { pid: "", comm: "", syscall: "other" }, count);
          const pid = String(u32(key, K.fields.pid));
          const comm = labelValue(cstring(key, K.fields.comm));
          const syscall = labelValue(syscallName(u32(key, K.fields.nr))); // "_sysctl" is not a valid label value
          totals.add(`${pid}/${comm}/${syscall}`, { pid, comm, syscall }, count);
        });
        return { series: [...totals.series("syscalls_total", "calls", at), ...drops.series("syscall_counts_dropped_total", "calls", at).filter((s) => s.points[0]![1] > 0)] };
      },
    };
  },
};
