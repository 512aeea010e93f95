import type { ProfileStacks } from "@probepilot/shared";
import type { TelemetryContent } from "./telemetry-content.ts";

const PARTS = ["series", "histograms", "events", "profiles"] as const;

/** Room left for the envelope (ids, sequence, version) around the content. */
const ENVELOPE_ALLOWANCE = 1024;

function itemCount(content: TelemetryContent): number {
  return PARTS.reduce((n, part) => n + (content[part]?.length ?? 0), 0);
}

/**
 * Two non-empty pieces holding every item of `piece` (which has at least two),
 * in order: each list is halved, and when every list holds one item at most,
 * the lists themselves are split between the pieces instead. (Halving lists of
 * one item each would give back the same piece: the loop must always shrink.)
 */
function halves(piece: TelemetryContent): [TelemetryContent, TelemetryContent] {
  const first: TelemetryContent = {};
  const second: TelemetryContent = {};
  const parts = PARTS.filter((part) => (piece[part]?.length ?? 0) > 0);
  if (parts.every((part) => piece[part]!.length === 1)) {
    const cut = Math.ceil(parts.length / 2);
    parts.forEach((part, i) => ((i < cut ? first : second) as Record<string, unknown[]>)[part] = piece[part]!);
    return [first, second];
  }
  for (const part of parts) {
    const list = piece[part] as unknown[];
    const half = Math.ceil(list.length / 2);
    (first as Record<string, unknown[]>)[part] = list.slice(0, half);
    if (half < list.length) (second as Record<string, unknown[]>)[part] = list.slice(half);
  }
  return [first, second];
}

/**
 * One process's profile as several (same pid, comm and time) when its stacks
 * would not fit in one batch: a busy process's 10 s profile can hold thousands
 * of deep stacks. The query side merges them back by stack.
 */
function splitProfile(profile: ProfileStacks, limit: number): ProfileStacks[] {
  const overhead = Buffer.byteLength(JSON.stringify({ ...profile, stacks: [] }));
  const pieces: ProfileStacks[] = [];
  let stacks: ProfileStacks["stacks"] = [];
  let bytes = overhead;
  for (const entry of profile.stacks) {
    const size = Buffer.byteLength(JSON.stringify(entry)) + 1;
    if (stacks.length > 0 && bytes + size > limit) {
      pieces.push({ ...profile, stacks });
      stacks = [];
      bytes = overhead;
    }
    stacks.push(entry);
    bytes += size;
  }
  pieces.push({ ...profile, stacks });
  return pieces;
}

/**
 * Splits one interval's output into pieces that each fit in a telemetry batch
 * (a burst of events, a profile with many stacks), halving the lists until
 * each piece's encoding fits; a profile too big alone is cut by stacks first. A
 * single item too big on its own (one huge event) is returned as is: the
 * publisher counts it as oversize.
 */
export function splitToFit(content: TelemetryContent, maxBatchBytes: number): TelemetryContent[] {
  const limit = maxBatchBytes - ENVELOPE_ALLOWANCE;
  const fits = (c: TelemetryContent) => Buffer.byteLength(JSON.stringify(c)) <= limit;
  const out: TelemetryContent[] = [];
  const pending = [content.profiles ? { ...content, profiles: content.profiles.flatMap((p) => splitProfile(p, limit)) } : content];
  while (pending.length > 0) {
    const piece = pending.shift()!;
    if (itemCount(piece) <= 1 || fits(piece)) {
      out.push(piece);
      continue;
    }
    pending.unshift(...halves(piece));
  }
  return out.filter((piece) => itemCount(piece) > 0);
}
