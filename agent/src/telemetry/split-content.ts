import type { TelemetryContent } from "./telemetry-content.ts";

const PARTS = ["series", "histograms", "events", "profiles"] as const;

/** Room left for the envelope (ids, sequence, version) around the content. */
const ENVELOPE_ALLOWANCE = 1024;

function itemCount(content: TelemetryContent): number {
  return PARTS.reduce((n, part) => n + (content[part]?.length ?? 0), 0);
}

/**
 * Splits one interval's output into pieces that each fit in a telemetry batch
 * (a burst of events, a profile with many stacks), halving every list until
 * each piece's encoding fits. A single item too big on its own is returned as
 * is: the publisher counts it as oversize.
 */
export function splitToFit(content: TelemetryContent, maxBatchBytes: number): TelemetryContent[] {
  const limit = maxBatchBytes - ENVELOPE_ALLOWANCE;
  const fits = (c: TelemetryContent) => Buffer.byteLength(JSON.stringify(c)) <= limit;
  const out: TelemetryContent[] = [];
  const pending = [content];
  while (pending.length > 0) {
    const piece = pending.shift()!;
    if (itemCount(piece) <= 1 || fits(piece)) {
      out.push(piece);
      continue;
    }
    const first: TelemetryContent = {};
    const second: TelemetryContent = {};
    for (const part of PARTS) {
      const list = piece[part] as unknown[] | undefined;
      if (!list?.length) continue;
      const half = Math.ceil(list.length / 2);
      (first as Record<string, unknown[]>)[part] = list.slice(0, half);
      (second as Record<string, unknown[]>)[part] = list.slice(half);
    }
    // Keep emission order: the first half goes out before the second.
    pending.unshift(first, second);
  }
  return out.filter((piece) => itemCount(piece) > 0);
}
