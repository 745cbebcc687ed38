import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { STDOUT, type CliOutput } from './cli-output';
import { initCommand } from './commands/init';
import { jobCommand } from './commands/job';
import { jobManagerCommand } from './commands/jobmanager';
import { startCommand } from './commands/start';
import { taskManagerCommand } from './commands/taskmanager';
import { formatCliError } from './format-error';

/** The package version, from the nearest package.json above this file (works from src/ and dist/). */
function packageVersion(): string {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'cluster-serving') return pkg.version ?? '0.0.0';
    } catch {
      // not here; look higher
    }
  }
  return '0.0.0';
}

/** Commander's settings for every (sub)command: throw instead of exiting, one line per error. */
function configure(command: Command): void {
  command.exitOverride();
  command.configureOutput({
    // "error: unknown option '--prot'\n(Did you mean --port?)" → one line
    outputError: (text, write) => write(text.replace(/\n\(Did you mean (.*)\?\)\n?$/, ' (did you mean $1?)\n')),
  });
  for (const sub of command.commands) configure(sub);
}

/**
 * The `cs` program (SPEC §3): `jobmanager start`, `taskmanager start|list`, `job submit|list|status|cancel`,
 * `start FILE`, `init [FILE]`. Every flag also reads its `CS_*` environment variable.
 */
export function buildProgram(output: CliOutput = STDOUT): Command {
  const program = new Command('cs')
    .description('Cluster Serving: Flink-style model serving over Redis Streams with ONNX Runtime')
    .version(packageVersion(), '-V, --version')
    .addCommand(jobManagerCommand(output))
    .addCommand(taskManagerCommand(output))
    .addCommand(jobCommand(output))
    .addCommand(startCommand(output))
    .addCommand(initCommand(output));
  configure(program);
  return program;
}

/**
 * Runs the CLI with `argv` (as `process.argv`: node, script, arguments…) and resolves with the exit
 * code, which it also sets as `process.exitCode`. A user mistake prints one line on stderr (an invalid
 * topology: that line, then every problem) and gives a non-zero code — never a stack trace.
 */
export async function main(argv: readonly string[] = process.argv): Promise<number> {
  let code = 0;
  try {
    await buildProgram().parseAsync([...argv]);
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander has printed its message (or the help) already
      code = err.exitCode;
    } else {
      for (const line of formatCliError(err)) process.stderr.write(`${line}\n`);
      code = 1;
    }
  }
  process.exitCode = code;
  return code;
}
