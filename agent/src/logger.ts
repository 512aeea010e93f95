import { pino, type DestinationStream, type Logger, type LoggerOptions } from "pino";
import { boundErrorForLog, boundForLog, cutForLog } from "@probepilot/shared";

export type { Logger };

/**
 * Structured JSON logs on stdout (pino), or on `destination` (tests). Every line is
 * bounded like the control plane's (`@probepilot/shared` log-bounds): errors without
 * whole parameter lists, long strings cut, arrays and objects capped.
 */
export function createAgentLogger(level: string, destination?: DestinationStream): Logger {
  const options: LoggerOptions = {
    level,
    base: { service: "agent", pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { log: (object) => boundForLog(object) as Record<string, unknown> },
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
  return destination ? pino(options, destination) : pino(options);
}
