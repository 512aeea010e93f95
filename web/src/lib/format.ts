/**
 * Numbers as people read them, by the unit the metric catalog gives
 * ("bytes", "seconds", "ratio", "us", "packets"…). Used by chart axes, legends
 * and tables alike so that one value reads the same everywhere.
 */
const SI = ["", "k", "M", "G", "T", "P"];
const BINARY = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

function trimmed(n: number, digits = 3): string {
  if (n === 0) return "0";
  const abs = Math.abs(n);
  const decimals = Math.min(abs >= 100 ? 0 : abs >= 10 ? 1 : 2, digits);
  const text = n.toFixed(decimals);
  // Only trailing zeros after a decimal point go: "1.50" → "1.5", "100" stays "100".
  return decimals === 0 ? text : text.replace(/\.?0+$/, "");
}

/** 1234567 → "1.23M". */
export function formatSi(n: number): string {
  let i = 0;
  let v = n;
  while (Math.abs(v) >= 1000 && i < SI.length - 1) (v /= 1000), i++;
  return `${trimmed(v)}${SI[i]}`;
}

/** 1536 → "1.5 KiB". */
export function formatBytes(n: number): string {
  let i = 0;
  let v = n;
  while (Math.abs(v) >= 1024 && i < BINARY.length - 1) (v /= 1024), i++;
  return `${trimmed(v)} ${BINARY[i]}`;
}

/** A duration in seconds → "850 ns", "12.5 µs", "3.2 ms", "1.5 s", "2m 5s", "5m". */
export function formatSeconds(s: number): string {
  const abs = Math.abs(s);
  if (abs === 0) return "0";
  if (abs < 1e-6) return `${trimmed(s * 1e9)} ns`;
  if (abs < 1e-3) return `${trimmed(s * 1e6)} µs`;
  if (abs < 1) return `${trimmed(s * 1e3)} ms`;
  if (abs < 120) return `${trimmed(s)} s`;
  const m = Math.floor(abs / 60);
  const rest = Math.round(abs - m * 60);
  return `${s < 0 ? "-" : ""}${m}m${rest ? ` ${rest}s` : ""}`;
}

/** A value in its catalog unit, for axes, legends and tables. */
export function formatValue(value: number | null | undefined, unit?: string | null): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  switch (unit) {
    case "ratio":
      return `${trimmed(value * 100)}%`;
    case "percent":
      return `${trimmed(value)}%`;
    case "bytes":
      return formatBytes(value);
    case "bytes/s":
      return `${formatBytes(value)}/s`;
    case "seconds":
    case "s":
      return formatSeconds(value);
    case "ms":
      return formatSeconds(value / 1e3);
    case "us":
      return formatSeconds(value / 1e6);
    case "ns":
      return formatSeconds(value / 1e9);
    case undefined:
    case null:
    case "":
      return formatSi(value);
    default:
      return `${formatSi(value)} ${unit}`;
  }
}

/** A timestamp as local time of day ("14:03:07"), with the date when it is not today. */
export function formatTime(ms: number, now = Date.now()): string {
  const d = new Date(ms);
  const time = d.toLocaleTimeString(undefined, { hour12: false });
  return new Date(now).toDateString() === d.toDateString() ? time : `${d.toLocaleDateString()} ${time}`;
}

/** "3 s ago", "5 min ago", "2 h ago", "4 d ago". */
export function formatAgo(ms: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86_400)} d ago`;
}

/** `token:bootstrap-admin(tok_01h…)` → `bootstrap-admin`: who did it, without the token id (the title keeps the whole actor). */
export function shortActor(actor: string): string {
  const m = /^token:(.+)\((tok_[0-9a-z]+)\)$/.exec(actor);
  return m ? m[1]! : actor;
}
