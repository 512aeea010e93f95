import { pino, type Logger } from "pino";

export type { Logger };

/** Structured JSON logs on stdout, one logger per process; children add a `component`. */
export function createLogger(level: string, base: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { ...base, pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}
