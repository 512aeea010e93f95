/**
 * Plain-text table for humans: a header row, columns padded to their widest
 * cell, long cells cut with an ellipsis so a row stays on one line.
 */
export function renderTable(headers: string[], rows: string[][], maxCell = 60): string {
  const cut = (s: string) => (s.length > maxCell ? `${s.slice(0, maxCell - 1)}…` : s);
  const cells = [headers, ...rows].map((r) => r.map(cut));
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")).join("\n");
}

/** "3s ago", "5m ago", "2h ago", "4d ago". */
export function ago(date: Date | string | null, now = Date.now()): string {
  if (!date) return "-";
  const s = Math.max(0, Math.round((now - new Date(date).getTime()) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

/** `k=v,k2=v2`, sorted, with ProbePilot's own host-fact labels shortened to `~hostname=…`. */
export function formatLabels(labels: Record<string, string>, opts: { hideHostFacts?: boolean } = {}): string {
  return Object.entries(labels)
    .filter(([k]) => !(opts.hideHostFacts && k.startsWith("probepilot.io/")))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
}
