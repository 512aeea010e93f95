import { constants as os } from "node:os";
import type { BpfProbeDefinition } from "../bpf-probe.ts";
import { filterKnobs } from "../bpf-probe.ts";
import { CounterTotals, EventBudget } from "../decode-helpers.ts";
import { cstring, expectSize, PP_OPEN_EVENT as L, s32, s64, u32, u64 } from "../records.ts";

const ERRNO_NAMES = new Map(Object.entries(os.errno).map(([name, code]) => [code, name]));

export const fileOpen: BpfProbeDefinition<"file_open"> = {
  kind: "file_open",
  tracepoints: ["syscalls/sys_enter_openat", "syscalls/sys_exit_openat", "syscalls/sys_enter_openat2", "syscalls/sys_exit_openat2"],
  outputs: [
    { name: "file_open", type: "event", labels: ["pid", "tid", "uid", "comm", "path", "flags", "ret", "error"], help: "An openat(2) or openat2(2): the path as passed (relative paths as written), open flags, the returned fd (ret ≥ 0) or the error (ret = -errno, error = its name, e.g. ENOENT)." },
    { name: "file_opens_total", type: "counter", unit: "opens", labels: [], help: "Opens reported since the probe started (including those past the event budget)." },
  ],
  plan: (params, filters) => ({
    set: { ...filterKnobs(filters), ...(params.pathPrefix ? { path_prefix: params.pathPrefix } : {}), failed_only: params.failedOnly ? 1 : 0 },
    ringbufs: ["events"],
    intervalMs: params.intervalMs,
  }),
  decoder(params) {
    const budget = new EventBudget("file_open", params.maxEventsPerSec, params.intervalMs);
    const opens = new CounterTotals();
    return {
      onEvent(_map, r, clock) {
        expectSize(r, L);
        opens.add("", {}, 1);
        if (!budget.admit()) return;
        const ret = s64(r, L.fields.ret);
        budget.push({
          name: "file_open",
          at: clock.toUnixMs(u64(r, L.fields.ts_ns)),
          attrs: {
            pid: u32(r, L.fields.pid),
            tid: u32(r, L.fields.tid),
            uid: u32(r, L.fields.uid),
            comm: cstring(r, L.fields.comm),
            path: cstring(r, L.fields.path),
            flags: s32(r, L.fields.flags),
            ret,
            error: ret < 0 ? (ERRNO_NAMES.get(-ret) ?? `errno ${-ret}`) : null,
          },
        });
      },
      flush(at) {
        const { events, series } = budget.take(at);
        series.push(...opens.series("file_opens_total", "opens", at));
        return { events, series };
      },
    };
  },
};
