import { Command } from 'commander';
import { JOBMANAGER_OPTION_NAMES } from '../../config/process-options';
import type { CliOutput } from '../cli-output';
import { addProcessOptions, processOptionValues } from '../process-option-flags';

/** `cs jobmanager start`: the control plane, until SIGINT/SIGTERM. */
export function jobManagerCommand(output: CliOutput): Command {
  const jobmanager = new Command('jobmanager').description('the control plane: REST API, job store, subtask assignment');
  const start = addProcessOptions(jobmanager.command('start').description('start a JobManager (runs until SIGINT/SIGTERM)'), JOBMANAGER_OPTION_NAMES);
  start.action(async () => {
    const { runJobManager } = await import('../../../jobmanager/main');
    await runJobManager({
      ...processOptionValues(start, JOBMANAGER_OPTION_NAMES),
      onStarted: (jm) => {
        output.out(`JobManager at ${jm.url} (redis ${jm.options.redisUrl.replace(/\/\/([^:/@]*):[^@]*@/, '//$1:***@')})`);
        output.out(`dashboard at ${jm.url}/`);
        if (jm.grpcAddress) output.out(`KServe v2 gRPC at ${jm.grpcAddress}`);
        if (jm.options.tensorboardDir !== undefined) output.out(`TensorBoard scalars in ${jm.options.tensorboardDir}, one run per job (view with: tensorboard --logdir ${jm.options.tensorboardDir})`);
        if (jm.access === 'insecure') process.stderr.write(`warning: --insecure: no token on ${jm.options.host}; anyone who reaches this JobManager can submit jobs, cancel them and register TaskManagers\n`);
      },
    });
  });
  return jobmanager;
}
