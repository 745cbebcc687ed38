import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * The process logger: structured JSON lines on stderr, level from CS_LOG_LEVEL (default `info`).
 * Components take a child logger named for their Flink noun (`taskmanager`, `jobmanager.rest`, …).
 * Never log tensor payloads.
 */
export function createLogger(name: string, level: string = process.env.CS_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, base: { pid: process.pid } }, pino.destination(2));
}
