import { pino, type Logger } from "pino";

export type { Logger };

/**
 * Structured JSON logs, one logger per process; children add a `component`.
 * Written to stdout, or appended to `file` (the local stack keeps the terminal for humans).
 */
export function createLogger(level: string, base: Record<string, unknown> = {}, file?: string): Logger {
  const options = { level, base: { ...base, pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime };
  return file ? pino(options, pino.destination({ dest: file, mkdir: true, append: true })) : pino(options);
}
