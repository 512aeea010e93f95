import type { BpfProbeDefinition } from "../bpf-probe.ts";
import { CounterTotals, IDLE_KEY_MS } from "../decode-helpers.ts";
import { AF_INET, ipAddress, PP_COUNT, PP_TCP_SIGNAL_KEY as K, u16, u32, u64 } from "../records.ts";

const METRICS: Record<number, { metric: string; unit: string }> = {
  1: { metric: "tcp_retransmits_total", unit: "segments" },
  2: { metric: "tcp_resets_sent_total", unit: "resets" },
  3: { metric: "tcp_resets_received_total", unit: "resets" },
};

/** A peer as a label value: IPv6 written out in full with '-' (':' is not allowed in label values). */
function peerLabel(key: Buffer): string {
  const family = u16(key, K.fields.family);
  const port = u16(key, K.fields.dport);
  if (family === AF_INET) return `${ipAddress(key, K.fields.daddr, family)}_${port}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(key.readUInt16BE(K.fields.daddr.offset + i).toString(16));
  return `${groups.join("-")}_${port}`;
}

export const tcpRetransmits: BpfProbeDefinition<"tcp_retransmits"> = {
  kind: "tcp_retransmits",
  tracepoints: ["tcp/tcp_retransmit_skb", "tcp/tcp_send_reset", "tcp/tcp_receive_reset"],
  outputs: [
    { name: "tcp_retransmits_total", type: "counter", unit: "segments", labels: ["peer"], help: "Retransmitted TCP segments (tcp:tcp_retransmit_skb; a GSO skb counts once) by remote peer `address_port`; peers past `maxPeers` per interval are summed as `other`." },
    { name: "tcp_resets_sent_total", type: "counter", unit: "resets", labels: ["peer"], help: "RST segments sent (tcp:tcp_send_reset), by remote peer." },
    { name: "tcp_resets_received_total", type: "counter", unit: "resets", labels: ["peer"], help: "RST segments received (tcp:tcp_receive_reset), by remote peer." },
  ],
  // Drained: one entry per (kind, peer) seen this interval, so the map does not grow with every peer ever seen.
  plan: (params) => ({ dumps: [{ map: "counts", drain: true }], intervalMs: params.intervalMs }),
  decoder(params) {
    const totals = new Map<number, CounterTotals>(Object.keys(METRICS).map((k) => [Number(k), new CounterTotals(IDLE_KEY_MS)]));
    let entries: { key: Buffer; value: Buffer }[] = [];
    return {
      onMapDump(map, dump) {
        if (map === "counts") entries = dump.entries;
      },
      flush(at) {
        const perKind = new Map<number, { peer: string; count: number }[]>();
        for (const { key, value } of entries) {
          const kind = u32(key, K.fields.kind);
          if (!METRICS[kind]) continue;
          const list = perKind.get(kind) ?? [];
          list.push({ peer: peerLabel(key), count: u64(value, PP_COUNT.fields.count) });
          perKind.set(kind, list);
        }
        entries = [];
        const series = [];
        for (const [kind, counters] of totals) {
          const list = (perKind.get(kind) ?? []).sort((a, b) => b.count - a.count);
          list.forEach(({ peer, count }, i) => {
            const label = i < params.maxPeers ? peer : "other";
            counters.add(label, { peer: label }, count);
          });
          series.push(...counters.series(METRICS[kind]!.metric, METRICS[kind]!.unit, at));
        }
        return { series };
      },
    };
  },
};
