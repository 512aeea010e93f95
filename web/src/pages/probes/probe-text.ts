/** How probe versions read in the UI (pure helpers shared by the probe and rollout pages). */

/** `sha256:9f2c…` → `9f2c41d07a1b` (12 hex digits tell versions apart at a glance; the title shows the whole hash). */
export function shortHash(hash: string): string {
  return hash.replace(/^sha256:/, "").slice(0, 12);
}

/** A parameter value as a person reads it: text as is, lists comma-separated, objects as JSON, unset as "not set". */
export function paramText(value: unknown): string {
  if (value === undefined || value === null) return "not set";
  if (Array.isArray(value)) return value.length ? value.map((v) => (typeof v === "string" ? v : JSON.stringify(v))).join(", ") : "(empty list)";
  if (typeof value === "object") return JSON.stringify(value);
  if (typeof value === "string") return value === "" ? '""' : value;
  return String(value);
}

