import type { BpfProbeDefinition } from "../bpf-probe.ts";
import { filterKnobs } from "../bpf-probe.ts";
import { CounterTotals, EventBudget } from "../decode-helpers.ts";
import { cstring, expectSize, PP_EXEC_EVENT as L, u32, u64 } from "../records.ts";

/** argv as one string: arguments separated by spaces, ones with spaces (or empty) quoted, so it reads like a command line. */
function commandLine(args: string[]): string {
  return args.map((a) => (a === "" || /[\s"]/.test(a) ? JSON.stringify(a) : a)).join(" ");
}

export const processExec: BpfProbeDefinition<"process_exec"> = {
  kind: "process_exec",
  tracepoints: ["sched/sched_process_exec"],
  outputs: [
    { name: "process_exec", type: "event", labels: ["pid", "ppid", "uid", "comm", "filename", "args", "argc", "argsTruncated"], help: "A successful execve: the program's path, its command line (arguments space-separated, quoted where needed; at most 512 bytes), parent pid and uid." },
    { name: "process_execs_total", type: "counter", unit: "execs", labels: [], help: "Successful execs since the probe started (including those past the event budget)." },
  ],
  plan: (params, filters) => ({ set: filterKnobs(filters), ringbufs: ["events"], intervalMs: params.intervalMs }),
  decoder(params) {
    const budget = new EventBudget("process_exec", params.maxEventsPerSec, params.intervalMs);
    const execs = new CounterTotals();
    return {
      onEvent(_map, r, clock) {
        expectSize(r, L);
        execs.add("", {}, 1);
        if (!budget.admit()) return;
        const size = Math.min(u32(r, L.fields.args_size), L.fields.args.size);
        const raw = r.subarray(L.fields.args.offset, L.fields.args.offset + size).toString("utf8");
        const args = raw.split("\0");
        if (args.at(-1) === "") args.pop(); // the terminating NUL of the last argument
        const argc = u32(r, L.fields.args_count);
        budget.push({
          name: "process_exec",
          at: clock.toUnixMs(u64(r, L.fields.ts_ns)),
          attrs: {
            pid: u32(r, L.fields.pid),
            ppid: u32(r, L.fields.ppid),
            uid: u32(r, L.fields.uid),
            comm: cstring(r, L.fields.comm),
            filename: cstring(r, L.fields.filename),
            args: commandLine(args),
            argc,
            argsTruncated: size >= L.fields.args.size || args.length < argc,
          },
        });
      },
      flush(at) {
        const { events, series } = budget.take(at);
        series.push(...execs.series("process_execs_total", "execs", at));
        return { events, series };
      },
    };
  },
};
