import { Option, type Command } from 'commander';
import { PROCESS_OPTIONS, defaultText, type ProcessOptionName } from '../config/process-options';
import type { ProcessOptionValues } from '../config/resolve-process-options';

/**
 * Adds the flags of the named process options to a command, from the one table in
 * src/config/process-options.ts; help shows each flag's environment variable and default. Values are
 * left as text: {@link processOptionValues} hands them to `resolveProcessOptions`, which applies the
 * environment and defaults and validates them all at once.
 */
export function addProcessOptions(command: Command, names: readonly ProcessOptionName[]): Command {
  for (const name of names) {
    const spec = PROCESS_OPTIONS[name];
    const fallback = defaultText(spec);
    const help = `${spec.description} (env ${spec.env}${fallback !== undefined ? `, default ${fallback}` : ''})`;
    if (spec.kind === 'switch') command.addOption(new Option(spec.flag, help));
    else if (spec.kind === 'path-list') command.addOption(new Option(`${spec.flag} <${spec.valueName.toLowerCase()}>`, help).argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]));
    else command.addOption(new Option(`${spec.flag} <${spec.valueName.toLowerCase()}>`, help));
  }
  if (names.includes('logLevel')) command.addHelpText('after', processEnvironmentHelp(names));
  return command;
}

/**
 * The help footer of a command that starts a process: every variable it reads, those without a flag
 * (the Redis password, CS_DEBUG, NO_COLOR) with a line each.
 */
export function processEnvironmentHelp(names: readonly ProcessOptionName[]): string {
  const lines = ['', 'Environment variables (a flag wins over its variable):'];
  let row = '';
  for (const env of names.map((n) => PROCESS_OPTIONS[n].env)) {
    if (row !== '' && row.length + env.length > 74) {
      lines.push(`  ${row},`);
      row = '';
    }
    row += row === '' ? env : `, ${env}`;
  }
  lines.push(`  ${row}`);
  if (names.includes('redisPasswordFile')) lines.push('  CS_REDIS_PASSWORD  the Redis password (no flag: a flag shows in ps)');
  lines.push('  CS_DEBUG           set to print the stack trace of an internal error');
  lines.push('  NO_COLOR           set to write pretty logs without colours');
  return lines.join('\n');
}

/** The flags of the named options that were given on the command line, as text. */
export function processOptionValues(command: Command, names: readonly ProcessOptionName[]): ProcessOptionValues {
  const given = command.opts<Record<string, string | boolean | string[] | undefined>>();
  const values: { [K in ProcessOptionName]?: string | boolean | readonly string[] } = {};
  for (const name of names) {
    const attribute = new Option(PROCESS_OPTIONS[name].flag).attributeName();
    const value = given[attribute];
    // A switch (e.g. --insecure) is `true`; a repeated flag (--model-dir) is a list, kept as one.
    if (value !== undefined) values[name] = Array.isArray(value) ? value : String(value);
  }
  return values;
}
