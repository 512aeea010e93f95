import type { ProfileStacks } from "@probepilot/shared";
import type { BpfProbeDefinition } from "../bpf-probe.ts";
import { filterKnobs } from "../bpf-probe.ts";
import { CounterTotals } from "../decode-helpers.ts";
import { cstring, PP_COUNT, PP_STACK_KEY as K, s32, u32, u64 } from "../records.ts";
import { Symbolizer } from "../symbolize/symbolizer.ts";

const EEXIST = 17;
const ENOMEM = 12;

/** Why a stack id is negative: only a full or colliding stack map loses a stack; the rest mean "no stack on this side". */
function stackIdProblem(id: number): string | null {
  if (id === -EEXIST || id === -ENOMEM) return "[lost stack: stack map full or hash collision]";
  return null;
}

export const cpuProfile: BpfProbeDefinition<"cpu_profile"> = {
  kind: "cpu_profile",
  tracepoints: [],
  perfEvent: true,
  outputs: [
    { name: "cpu_profile", type: "profile", labels: ["pid", "comm"], help: "On-CPU stack samples (cpu-clock perf event at sampleHz per CPU), folded `comm;user outer;…;user inner;kernel outer;…;kernel inner` per process over each interval. User frames resolve through /proc/PID/maps and ELF symbol tables, kernel frames through /proc/kallsyms; an unresolved frame says why in brackets." },
    { name: "cpu_profile_samples_total", type: "counter", unit: "samples", labels: [], help: "Samples taken since the probe started." },
    { name: "cpu_profile_lost_samples_total", type: "counter", unit: "samples", labels: [], help: "Samples lost because the kernel's sample map was full." },
  ],
  plan: (params, filters) => ({
    set: filterKnobs(filters),
    // Counts first, then the stacks they refer to. A sample landing between the two reads is counted
    // next interval, and if its stack id was drained here it shows as "[lost stack …]" (rare: the reads are
    // microseconds apart).
    dumps: [
      { map: "counts", drain: true },
      { map: "stacks", drain: true },
      { map: "drops", drain: false },
    ],
    perfEvent: { program: "do_sample", frequencyHz: params.sampleHz },
    intervalMs: params.intervalMs,
  }),
  decoder() {
    const symbolizer = new Symbolizer();
    // Load /proc/kallsyms now, in the background, rather than in the first interval's flush.
    void symbolizer.preloadKernelSymbols().catch(() => {}); // a failure resurfaces, with its reason, when a kernel frame is symbolized
    let counts: { key: Buffer; value: Buffer }[] = [];
    let stacks = new Map<number, bigint[]>();
    const drops = new CounterTotals();
    const samples = new CounterTotals();
    return {
      onMapDump(map, dump) {
        if (map === "counts") counts = dump.entries;
        if (map === "drops" && dump.entries[0]) drops.set("", {}, u64(dump.entries[0].value, PP_COUNT.fields.count));
        if (map === "stacks") {
          stacks = new Map();
          for (const { key, value } of dump.entries) {
            const frames: bigint[] = [];
            for (let off = 0; off + 8 <= value.length; off += 8) {
              const ip = value.readBigUInt64LE(off);
              if (ip === 0n) break;
              frames.push(ip);
            }
            stacks.set(key.readUInt32LE(0), frames);
          }
        }
      },
      async flush(at) {
        // This interval's dumps, taken before the first await: the next interval's may arrive while symbolizing.
        const intervalCounts = counts;
        const intervalStacks = stacks;
        counts = [];
        const ips = (id: number): bigint[] | undefined => (id >= 0 ? intervalStacks.get(id) : undefined);
        const byPid = new Map<number, ProfileStacks>();
        for (const { key, value } of intervalCounts) {
          const pid = u32(key, K.fields.pid);
          const comm = cstring(key, K.fields.comm);
          const count = u64(value, PP_COUNT.fields.count);
          samples.add("", {}, count);
          const kernelId = s32(key, K.fields.kernel_stack_id);
          const userId = s32(key, K.fields.user_stack_id);
          const kernelIps = ips(kernelId);
          const userIps = ips(userId);
          const kernel = kernelIps ? symbolizer.symbolizeKernel(kernelIps) : kernelId >= 0 ? ["[lost stack: read after the stack map was drained]"] : [stackIdProblem(kernelId)].filter((f): f is string => f !== null);
          const user = userIps ? await symbolizer.symbolizeUser(pid, userIps) : userId >= 0 ? ["[lost stack: read after the stack map was drained]"] : [stackIdProblem(userId)].filter((f): f is string => f !== null);
          const folded = symbolizer.fold(kernel, user, comm);
          let profile = byPid.get(pid);
          if (!profile) byPid.set(pid, (profile = { at, pid, comm, stacks: [] }));
          profile.stacks.push([folded, count]);
        }
        // The same folded stack can come from several tids of a process: merge them.
        for (const profile of byPid.values()) {
          const merged = new Map<string, number>();
          for (const [stack, n] of profile.stacks) merged.set(stack, (merged.get(stack) ?? 0) + n);
          profile.stacks = [...merged];
        }
        symbolizer.endInterval();
        const series = [...samples.series("cpu_profile_samples_total", "samples", at), ...drops.series("cpu_profile_lost_samples_total", "samples", at).filter((s) => s.points[0]![1] > 0)];
        return { profiles: [...byPid.values()], series };
      },
    };
  },
};
