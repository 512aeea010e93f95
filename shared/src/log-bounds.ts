/**
 * Bounds on what one log line may carry, for the pino loggers of the control plane and
 * the agent (`control-plane/src/logger.ts`, `agent/src/logger.ts`). Pure functions (no
 * I/O): they live here so both processes log alike.
 *
 * Why: a failed query's error (drizzle's `DrizzleQueryError`) carries the whole SQL text
 * and every bound parameter, in its `params` and again in its message and stack. A
 * 20,000-requirement selector made every rollout-engine pass log a 40,000-parameter
 * query: 27 MB of log in 6 s. With these bounds a log line stays a few KiB whatever
 * was logged: long strings are cut, arrays and objects keep their first entries and say
 * how many more there were, query parameters are counted and never listed whole.
 */

/** Longest string kept in a log line (longer ones are cut and say by how much). */
export const LOG_MAX_STRING = 2000;
/** Longest SQL text kept (`err.query`). */
export const LOG_MAX_QUERY = 4000;
/** Most array items kept. */
export const LOG_MAX_ARRAY_ITEMS = 20;
/** Most object keys kept. */
export const LOG_MAX_OBJECT_KEYS = 50;
/** Query parameters kept (each cut to {@link LOG_MAX_PARAM}): enough to recognize a call, never the list. */
export const LOG_MAX_PARAMS = 5;
const LOG_MAX_PARAM = 100;
/** Deepest nesting kept. */
const LOG_MAX_DEPTH = 6;
/** Stack frames kept per error. */
const LOG_MAX_FRAMES = 20;
/** Causes followed from an error. */
const LOG_MAX_CAUSES = 3;

/** `text` cut to `max` characters, saying how many were dropped. */
export function cutForLog(text: string, max = LOG_MAX_STRING): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more characters)`;
}

// Only real errors: an already bounded error is a plain object and must pass through unchanged.
function isErrorLike(value: unknown): value is Error {
  return value instanceof Error;
}

/**
 * A log-safe copy of any value: strings, arrays, objects and nesting cut to the limits
 * above, errors through {@link boundErrorForLog}, byte arrays as their length. Cycles
 * become `"[circular]"`.
 */
export function boundForLog(value: unknown, depth = 0, seen: WeakSet<object> = new WeakSet()): unknown {
  if (typeof value === "string") return cutForLog(value);
  if (typeof value !== "object" || value === null) return value;
  if (seen.has(value)) return "[circular]";
  if (isErrorLike(value)) return boundErrorForLog(value, depth, seen);
  if (ArrayBuffer.isView(value)) return `[${value.constructor.name}: ${value.byteLength} bytes]`;
  if (depth >= LOG_MAX_DEPTH) return Array.isArray(value) ? `[array of ${value.length}]` : "[object]";
  // Dates, URLs and the like say what they are through toJSON; leave them to the JSON writer.
  if (typeof (value as { toJSON?: unknown }).toJSON === "function") return value;
  seen.add(value);
  try {
    if (Array.isArray(value)) {
      const kept = value.slice(0, LOG_MAX_ARRAY_ITEMS).map((v) => boundForLog(v, depth + 1, seen));
      if (value.length > LOG_MAX_ARRAY_ITEMS) kept.push(`… ${value.length - LOG_MAX_ARRAY_ITEMS} more items (${value.length} in all)`);
      return kept;
    }
    const out: Record<string, unknown> = {};
    let count = 0;
    for (const key in value) {
      if (!Object.hasOwn(value, key)) continue;
      if (++count > LOG_MAX_OBJECT_KEYS) continue; // counted, not kept
      out[cutForLog(key, 200)] = boundForLog((value as Record<string, unknown>)[key], depth + 1, seen);
    }
    if (count > LOG_MAX_OBJECT_KEYS) out["…"] = `${count - LOG_MAX_OBJECT_KEYS} more keys (${count} in all)`;
    return out;
  } finally {
    seen.delete(value);
  }
}

/** A query's parameters as a log shows them: how many, and the first few, cut. */
function paramsForLog(params: unknown[]): { count: number; first: unknown[] } {
  return { count: params.length, first: params.slice(0, LOG_MAX_PARAMS).map((p) => (typeof p === "string" ? cutForLog(p, LOG_MAX_PARAM) : boundForLog(p, LOG_MAX_DEPTH - 1))) };
}

/** The first line of a stack (`Name: message`) cut, then at most {@link LOG_MAX_FRAMES} frames. */
function stackForLog(stack: string, message: string): string {
  // The stack starts with the message, which may span lines (drizzle's "Failed query: …\nparams: …").
  const rest = message && stack.includes(message) ? stack.slice(stack.indexOf(message) + message.length) : stack;
  const head = message && stack.includes(message) ? stack.slice(0, stack.indexOf(message)) + cutForLog(message, 200) : "";
  const frames = rest.split("\n").filter((line) => line.trim() !== "");
  const kept = frames.slice(0, LOG_MAX_FRAMES).map((line) => cutForLog(line, 300));
  if (frames.length > LOG_MAX_FRAMES) kept.push(`    … ${frames.length - LOG_MAX_FRAMES} more frames`);
  return [head, ...kept].filter((line) => line !== "").join("\n");
}

/**
 * An error as a log line shows it, in pino's shape (`type`, `message`, `stack`, own
 * fields) but bounded: the message keeps its start and the messages of its causes
 * (`Failed query: insert … : duplicate key value …`, each part cut), query text is cut
 * to {@link LOG_MAX_QUERY}, `params`/`parameters` become `{count, first}`, and the cause
 * is kept as `cause` (up to 3 deep).
 */
export function boundErrorForLog(err: Error, depth = 0, seen: WeakSet<object> = new WeakSet()): Record<string, unknown> {
  seen.add(err);
  try {
    const fields = err as unknown as Record<string, unknown>;
    const paramsKey = Array.isArray(fields.params) ? "params" : Array.isArray(fields.parameters) ? "parameters" : null;
    // drizzle repeats every parameter in its message (`Failed query: <sql>\nparams: a,b,…`): keep the SQL part only.
    let own = String(err.message ?? "");
    if (paramsKey !== null) {
      const at = own.lastIndexOf("\nparams: ");
      if (at >= 0) own = own.slice(0, at);
    }
    const parts = [cutForLog(own, 1000)];
    let cause: unknown = err.cause;
    for (let i = 0; i < LOG_MAX_CAUSES && isErrorLike(cause) && !seen.has(cause); i++) {
      parts.push(cutForLog(String(cause.message ?? ""), 1000));
      cause = cause.cause;
    }
    const out: Record<string, unknown> = {
      type: typeof err.constructor === "function" && err.constructor.name ? err.constructor.name : err.name,
      message: parts.filter((p) => p !== "").join(": "),
    };
    if (typeof err.stack === "string") out.stack = stackForLog(err.stack, String(err.message ?? ""));
    for (const key in err) {
      if (!Object.hasOwn(err, key) || key in out || key === "cause") continue;
      const value = fields[key];
      if (key === paramsKey) out[key] = paramsForLog(value as unknown[]);
      else if (key === "query" && typeof value === "string") out.query = cutForLog(value, LOG_MAX_QUERY);
      else out[key] = boundForLog(value, depth + 1, seen);
    }
    if (isErrorLike(err.cause) && depth < LOG_MAX_CAUSES && !seen.has(err.cause)) out.cause = boundErrorForLog(err.cause, depth + 1, seen);
    return out;
  } finally {
    seen.delete(err);
  }
}
