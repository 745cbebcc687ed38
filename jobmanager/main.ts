import { JOBMANAGER_OPTION_NAMES, LOGGING_OPTION_NAMES } from '../src/config/process-options';
import { readToken } from '../src/config/read-jobmanager-access';
import { resolveProcessOptions, type ProcessOptionValues } from '../src/config/resolve-process-options';
import { createLogger, type Logger } from '../src/logging/logger';
import { redisSecurityOf, setProcessRedisSecurity } from '../src/redis/redis-security';
import { JobManager } from './jobmanager';

export { JobManager, type JobManagerOptions } from './jobmanager';

/**
 * Starts a JobManager. Options not given come from the `CS_*` environment variables, then the
 * defaults (src/config/process-options.ts); all are validated at once (ConfigError lists every problem).
 *
 * @example
 * const jm = await startJobManager({ port: 0, redisUrl: 'redis://127.0.0.1:6379' });
 * console.log(jm.url);
 */
export async function startJobManager(options: ProcessOptionValues & { logger?: Logger } = {}): Promise<JobManager> {
  const { logger, ...values } = options;
  const resolved = resolveProcessOptions(JOBMANAGER_OPTION_NAMES, { values });
  // Every Redis connection of the process (state, sources, sinks) uses these TLS files and password.
  setProcessRedisSecurity(redisSecurityOf(resolved));
  const jobManager = new JobManager({ ...resolved, token: readToken(resolved), logger: logger ?? createLogger('jobmanager', resolved.logLevel, resolved.logFormat) });
  await jobManager.start();
  return jobManager;
}

/**
 * The standalone JobManager process (`cs jobmanager start`): starts it, and on SIGTERM or SIGINT
 * closes it gracefully; a second signal exits at once. `onStarted` is called once it listens. Resolves once closed.
 */
export async function runJobManager(
  options: ProcessOptionValues & { logger?: Logger; onStarted?: (jobManager: JobManager) => void } = {},
): Promise<void> {
  const { onStarted, ...rest } = options;
  const { logLevel, logFormat } = resolveProcessOptions(LOGGING_OPTION_NAMES, { values: rest });
  const logger = rest.logger ?? createLogger('jobmanager', logLevel, logFormat);
  const jobManager = await startJobManager({ ...rest, logger });
  onStarted?.(jobManager);
  await new Promise<void>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals): void => {
      signals += 1;
      if (signals > 1) {
        logger.warn({ component: 'jobmanager', signal }, 'jobmanager.stopping.force');
        process.exit(130);
      }
      logger.info({ component: 'jobmanager', signal }, 'jobmanager.stopping');
      void jobManager.close().finally(() => {
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
        resolve();
      });
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
