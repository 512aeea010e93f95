import type { ProbeStatus } from "@probepilot/shared";

/** Probe states in the order an operator reads them: what is broken first, what is idle last. */
const STATE_ORDER: Record<ProbeStatus["state"], number> = { failed: 0, applying: 1, pending: 2, running: 3, verified: 4, rolled_back: 5, unsupported: 6, stopped: 7 };

/** An agent's probes, broken ones first, then by kind. */
export function sortProbes(probes: readonly ProbeStatus[]): ProbeStatus[] {
  return [...probes].sort((a, b) => STATE_ORDER[a.state] - STATE_ORDER[b.state] || (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0));
}

/** Counts of an agent's probes per state, in {@link sortProbes} order, leaving out states with none. */
export function probeStateCounts(probes: readonly ProbeStatus[]): { state: ProbeStatus["state"]; count: number }[] {
  const counts = new Map<ProbeStatus["state"], number>();
  for (const p of probes) counts.set(p.state, (counts.get(p.state) ?? 0) + 1);
  return [...counts].map(([state, count]) => ({ state, count })).sort((a, b) => STATE_ORDER[a.state] - STATE_ORDER[b.state]);
}

/** A probe's cost sample: cumulative kernel runs at a time. */
export type RunSample = { kernelRunCount: number; at: number };

/**
 * How often the probe's BPF programs ran per second between two cost samples
 * (each run is one kernel event handled: a packet, a switch, an exec). Null when
 * the samples are the same or out of order, or the count went down (the probe
 * was reloaded and its counter restarted).
 */
export function runsPerSecond(previous: RunSample | undefined, next: RunSample | undefined): number | null {
  if (!previous || !next || next.at <= previous.at || next.kernelRunCount < previous.kernelRunCount) return null;
  return ((next.kernelRunCount - previous.kernelRunCount) * 1000) / (next.at - previous.at);
}
