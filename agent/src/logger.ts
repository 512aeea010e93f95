import { pino, type Logger } from "pino";

export type { Logger };

/** Structured JSON logs on stdout (pino). */
export function createAgentLogger(level: string): Logger {
  return pino({ level, base: { service: "agent", pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}
