/** Log2-bucketed histograms (the `HistogramSchema` of telemetry batches). */

/**
 * The `p`-th percentile (0–100) of log2 bucket counts (`counts[i]` for
 * [2^i, 2^(i+1))), linearly interpolated inside its bucket; null when every count
 * is zero. The control plane's `telemetry.histogram` uses it per time bucket, the CLI over a whole range.
 */
export function estimatePercentile(counts: readonly number[], p: number): number | null {
  let total = 0;
  for (const c of counts) total += c;
  if (total <= 0) return null;
  // p · N first: exact for whole percentiles and counts (0.9 · 20 would not be).
  const rank = (p * total) / 100;
  let below = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i]!;
    if (c <= 0) continue;
    if (below + c >= rank) {
      const lower = 2 ** i;
      // Clamped: float rounding of `rank` must not step outside the bucket.
      const within = Math.min(1, Math.max(0, (rank - below) / c));
      return lower + lower * within;
    }
    below += c;
  }
  // Unreachable for 0 ≤ p ≤ 100 (rank ≤ total); kept for rounding: the top of the highest bucket.
  for (let i = counts.length - 1; i >= 0; i--) if (counts[i]! > 0) return 2 ** (i + 1);
  return null;
}
