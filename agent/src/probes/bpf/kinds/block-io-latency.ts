import { readFileSync } from "node:fs";
import type { BpfProbeDefinition } from "../bpf-probe.ts";
import { filterKnobs } from "../bpf-probe.ts";
import { HistogramDeltas, labelValue } from "../decode-helpers.ts";
import { PP_BLOCK_KEY, u32 } from "../records.ts";

const OPS = ["read", "write", "flush", "discard", "other"] as const;

/** The kernel's dev_t in block tracepoints: major in the top 12 bits, minor in the low 20. */
function deviceName(dev: number, cache: Map<number, string>): string {
  let name = cache.get(dev);
  if (name === undefined) {
    const id = `${dev >>> 20}:${dev & 0xfffff}`;
    try {
      const uevent = readFileSync(`/sys/dev/block/${id}/uevent`, "utf8");
      name = /^DEVNAME=(.+)$/m.exec(uevent)?.[1] ?? id;
    } catch {
      name = id; // the device is gone (or sysfs is not mounted): its number still identifies it
    }
    cache.set(dev, name);
  }
  return name;
}

export const blockIoLatency: BpfProbeDefinition<"block_io_latency"> = {
  kind: "block_io_latency",
  tracepoints: ["block/block_rq_issue", "block/block_rq_complete"],
  outputs: [
    { name: "block_io_latency", type: "histogram", unit: "us", labels: ["device", "op"], help: "Block request latency from issue to the driver to completion, per device (e.g. vda) and op (read, write, flush, discard, other), per interval, log2 buckets." },
  ],
  plan: (params, filters) => ({ set: filterKnobs(filters), dumps: [{ map: "hist", drain: false }], intervalMs: params.intervalMs }),
  decoder() {
    const deltas = new HistogramDeltas("block_io_latency", "us");
    const names = new Map<number, string>();
    let entries: { key: Buffer; value: Buffer }[] = [];
    return {
      onMapDump(map, dump) {
        if (map === "hist") entries = dump.entries;
      },
      flush(at) {
        const histograms = [];
        for (const { key, value } of entries) {
          const dev = u32(key, PP_BLOCK_KEY.fields.dev);
          const op = OPS[u32(key, PP_BLOCK_KEY.fields.op)] ?? "other";
          const h = deltas.delta(`${dev}/${op}`, { device: labelValue(deviceName(dev, names)), op }, value, at);
          if (h) histograms.push(h);
        }
        entries = [];
        return { histograms };
      },
    };
  },
};
