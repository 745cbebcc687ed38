import type { Command } from 'commander';
import { LOGGING_OPTION_NAMES } from '../config/process-options';
import { resolveProcessOptions } from '../config/resolve-process-options';
import { setProcessLogging } from '../logging/logger';
import { processOptionValues } from './process-option-flags';

/**
 * Validates `--log-level`/`--log-format` (on the commands that have them) and `CS_LOG_LEVEL`/`CS_LOG_FORMAT`
 * once, before a command runs, and makes them the level and format of every logger of this process. An
 * unknown value stops the command with one ConfigError line that names the flag or the variable.
 */
export function applyLoggingOptions(command: Command): void {
  const { logLevel, logFormat } = resolveProcessOptions(LOGGING_OPTION_NAMES, { values: processOptionValues(command, LOGGING_OPTION_NAMES) });
  setProcessLogging({ level: logLevel, format: logFormat });
}
