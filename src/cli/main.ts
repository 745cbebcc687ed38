import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../package-root';
import { Command, CommanderError } from 'commander';
import { STDOUT, type CliOutput } from './cli-output';
import { demoCommand } from './commands/demo';
import { initCommand } from './commands/init';
import { modelCommand } from './commands/model';
import { predictCommand } from './commands/predict';
import { benchCommand } from './commands/bench';
import { jobCommand } from './commands/job';
import { jobManagerCommand } from './commands/jobmanager';
import { startCommand } from './commands/start';
import { taskManagerCommand } from './commands/taskmanager';
import { topCommand } from './commands/top';
import { formatCliError } from './format-error';
import { applyLoggingOptions } from './apply-logging-options';

/** The package version, from this package's package.json. */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version?: string };
  return pkg.version ?? '0.0.0';
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
 * `start FILE`, `init [FILE]`, `predict JOB FILE`, `bench JOB`, `demo`, `top`. Every flag also reads its `CS_*` environment variable.
 */
export function buildProgram(output: CliOutput = STDOUT): Command {
  const program = new Command('cs')
    .description('Cluster Serving: Flink-style model serving over Redis Streams with ONNX Runtime')
    .version(packageVersion(), '-V, --version')
    .addCommand(jobManagerCommand(output))
    .addCommand(taskManagerCommand(output))
    .addCommand(jobCommand(output))
    .addCommand(startCommand(output))
    .addCommand(initCommand(output))
    .addCommand(modelCommand(output))
    .addCommand(predictCommand(output))
    .addCommand(benchCommand(output))
    .addCommand(demoCommand(output))
    .addCommand(topCommand(output));
  // CS_LOG_LEVEL and CS_LOG_FORMAT (or their flags) are checked before any command runs.
  program.hook('preAction', (_program, action) => applyLoggingOptions(action));
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
