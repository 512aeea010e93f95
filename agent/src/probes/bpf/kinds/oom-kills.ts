import type { BpfProbeDefinition } from "../bpf-probe.ts";
import { CounterTotals } from "../decode-helpers.ts";
import { cstring, expectSize, PP_OOM_EVENT as L, s32, u32, u64 } from "../records.ts";
import type { TelemetryEvent } from "@probepilot/shared";

export const oomKills: BpfProbeDefinition<"oom_kills"> = {
  kind: "oom_kills",
  tracepoints: ["oom/mark_victim"],
  outputs: [
    { name: "oom_kill", type: "event", labels: ["pid", "comm", "uid", "oomScoreAdj", "totalVmKb", "anonRssKb", "fileRssKb", "shmemRssKb", "triggerPid", "triggerComm"], help: "The OOM killer chose a victim (oom:mark_victim): who, its memory at the time, and the task whose allocation triggered it." },
    { name: "oom_kills_total", type: "counter", unit: "kills", labels: [], help: "OOM kills since the probe started." },
  ],
  plan: (params) => ({ ringbufs: ["events"], intervalMs: params.intervalMs }),
  decoder() {
    // OOM kills are rare and each one matters: no event budget.
    let events: TelemetryEvent[] = [];
    const kills = new CounterTotals();
    return {
      onEvent(_map, r, clock) {
        expectSize(r, L);
        kills.add("", {}, 1);
        events.push({
          name: "oom_kill",
          at: clock.toUnixMs(u64(r, L.fields.ts_ns)),
          attrs: {
            pid: u32(r, L.fields.pid),
            comm: cstring(r, L.fields.comm),
            uid: u32(r, L.fields.uid),
            oomScoreAdj: s32(r, L.fields.oom_score_adj),
            totalVmKb: u64(r, L.fields.total_vm_kb),
            anonRssKb: u64(r, L.fields.anon_rss_kb),
            fileRssKb: u64(r, L.fields.file_rss_kb),
            shmemRssKb: u64(r, L.fields.shmem_rss_kb),
            triggerPid: u32(r, L.fields.trigger_pid),
            triggerComm: cstring(r, L.fields.trigger_comm),
          },
        });
      },
      flush(at) {
        const out = events;
        events = [];
        return { events: out, series: kills.series("oom_kills_total", "kills", at) };
      },
    };
  },
};
