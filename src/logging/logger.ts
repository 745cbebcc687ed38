import pino, { type DestinationStream, type Logger } from 'pino';
import { prettyFactory } from 'pino-pretty';
import { ConfigError } from '../errors';

export type { Logger };

/** The levels `CS_LOG_LEVEL` / `--log-level` accept (pino's), most to least severe; `silent` logs nothing. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * How log lines are written (`CS_LOG_FORMAT` / `--log-format`): `json`, one JSON object per line (for log
 * collectors, and what the tests parse); `pretty`, one readable line per entry (time, level, component,
 * event, fields); `auto`, pretty when stderr is a terminal, JSON otherwise.
 */
export const LOG_FORMATS = ['auto', 'pretty', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** The problem with a level's text, or undefined when it is one of {@link LOG_LEVELS} (any case). */
export function logLevelProblem(text: string): string | undefined {
  return (LOG_LEVELS as readonly string[]).includes(text.trim().toLowerCase()) ? undefined : `must be one of ${LOG_LEVELS.join(', ')}`;
}

/** The problem with a format's text, or undefined when it is one of {@link LOG_FORMATS} (any case). */
export function logFormatProblem(text: string): string | undefined {
  return (LOG_FORMATS as readonly string[]).includes(text.trim().toLowerCase()) ? undefined : `must be one of ${LOG_FORMATS.join(', ')}`;
}

/** The level and format every logger of this process uses unless told otherwise (set once by the CLI). */
let processLogging: { level?: LogLevel; format?: LogFormat } = {};

/**
 * Sets the level and format of every logger created afterwards in this process without its own (the CLI
 * calls it once, from `--log-level`/`--log-format` or their variables, before it starts anything).
 */
export function setProcessLogging(options: { level?: LogLevel; format?: LogFormat }): void {
  processLogging = { ...options };
}

/** Reads one of the logging variables, throwing a one-problem ConfigError for an unknown value. */
function fromEnv<T extends string>(name: string, problemOf: (text: string) => string | undefined): T | undefined {
  const text = process.env[name];
  if (text === undefined || text.trim() === '') return undefined;
  const problem = problemOf(text);
  if (problem !== undefined) throw new ConfigError([`${name}=${JSON.stringify(text)}: ${problem}`]);
  return text.trim().toLowerCase() as T;
}

/**
 * A stream that writes each entry as one readable line, synchronously (a crash still prints the last
 * line): pino-pretty's formatter without its transport, whose worker thread or pipeline would buffer.
 */
function prettyStream(colorize: boolean): DestinationStream {
  const prettify = prettyFactory({ colorize, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true });
  const destination = pino.destination({ fd: 2, sync: true });
  return { write: (line: string) => void destination.write(prettify(line)) };
}

/**
 * The process logger, on stderr: JSON lines, or readable lines on a terminal (see {@link LogFormat}).
 * Level and format: the arguments, else {@link setProcessLogging}'s, else `CS_LOG_LEVEL` / `CS_LOG_FORMAT`
 * (an unknown value is a ConfigError naming the variable), else `info` / `auto`. Components take a child
 * logger named for their Flink noun (`taskmanager`, `jobmanager.rest`, …). Never log tensor payloads.
 */
export function createLogger(name: string, level?: string, format?: LogFormat): Logger {
  if (level !== undefined && logLevelProblem(level) !== undefined) throw new ConfigError([`log level ${JSON.stringify(level)}: ${logLevelProblem(level)!}`]);
  const chosenLevel = level?.toLowerCase() ?? processLogging.level ?? fromEnv<LogLevel>('CS_LOG_LEVEL', logLevelProblem) ?? 'info';
  const chosenFormat = format ?? processLogging.format ?? fromEnv<LogFormat>('CS_LOG_FORMAT', logFormatProblem) ?? 'auto';
  const terminal = process.stderr.isTTY === true;
  const pretty = chosenFormat === 'pretty' || (chosenFormat === 'auto' && terminal);
  const destination = pretty ? prettyStream(terminal && process.env.NO_COLOR === undefined) : pino.destination({ fd: 2, sync: true });
  return pino({ name, level: chosenLevel, base: { pid: process.pid } }, destination);
}
