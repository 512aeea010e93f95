import { pino, type DestinationStream, type Logger, type LoggerOptions } from "pino";
import { boundErrorForLog, boundForLog, cutForLog } from "@probepilot/shared";

export type { Logger };

/**
 * pino options that keep every log line bounded (`@probepilot/shared` log-bounds): errors
 * are serialized without their query parameters and with cut messages, stacks and SQL;
 * any logged string, array or object is cut to a few KiB. The agent's logger uses the same.
 */
export function boundedLogOptions(level: string, base: Record<string, unknown>): LoggerOptions {
  return {
    level,
    base,
    timestamp: pino.stdTimeFunctions.isoTime,
    // Every merged object (`log.error({ err, rollout }, "…")`) before it is written; errors under any key.
    formatters: { log: (object) => boundForLog(object) as Record<string, unknown> },
    // Errors bound as a child's bindings never pass `formatters.log`.
    serializers: { err: (err: unknown) => (err instanceof Error ? boundErrorForLog(err) : err) },
    hooks: {
      // `log.error(err)` would make the error's whole message the line's `msg`.
      logMethod(args, method) {
        const [first, second] = args as unknown[];
        const bounded = first instanceof Error && typeof second !== "string" ? [{ err: first }, cutForLog(first.message)] : args.map((a) => (typeof a === "string" ? cutForLog(a) : a));
        return method.apply(this, bounded as typeof args);
      },
    },
  };
}

/**
 * Structured JSON logs, one logger per process; children add a `component`.
 * Written to stdout, or appended to `file` (the local stack keeps the terminal for humans),
 * or to a stream (tests).
 */
export function createLogger(level: string, base: Record<string, unknown> = {}, file?: string | DestinationStream): Logger {
  const options = boundedLogOptions(level, { ...base, pid: process.pid });
  if (file === undefined) return pino(options);
  return pino(options, typeof file === "string" ? pino.destination({ dest: file, mkdir: true, append: true }) : file);
}
