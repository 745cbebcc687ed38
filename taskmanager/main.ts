import { TASKMANAGER_OPTION_NAMES } from '../src/config/process-options';
import { readJobManagerAccess } from '../src/config/read-jobmanager-access';
import { resolveProcessOptions, type ProcessOptionValues } from '../src/config/resolve-process-options';
import { createLogger, type Logger } from '../src/logging/logger';
import { redisSecurityOf, setProcessRedisSecurity } from '../src/redis/redis-security';
import { TaskManager, type TaskManagerOptions } from './taskmanager';

export { TaskManager, generateTaskManagerId, type TaskManagerOptions } from './taskmanager';


/**
 * Starts a TaskManager and resolves once it is registered with the JobManager (it retries until the
 * JobManager answers). Options not given come from the `CS_*` environment variables, then the defaults;
 * all are validated at once (ConfigError lists every problem). The token and CA files are read here;
 * `ca` (PEM) overrides `caFile`.
 *
 * @example
 * const tm = await startTaskManager({ jobmanagerUrl: jm.url, slots: 2 });
 */
export async function startTaskManager(options: ProcessOptionValues & { logger?: Logger; ca?: TaskManagerOptions['ca'] } = {}): Promise<TaskManager> {
  const { logger, ca, ...values } = options;
  const resolved = resolveProcessOptions(TASKMANAGER_OPTION_NAMES, { values });
  // Every Redis connection of the process (state, sources, sinks) uses these TLS files and password.
  setProcessRedisSecurity(redisSecurityOf(resolved));
  const access = readJobManagerAccess(resolved);
  const taskManager = new TaskManager({ ...resolved, ...access, ...(ca !== undefined ? { ca } : {}), logger: logger ?? createLogger('taskmanager', resolved.logLevel, resolved.logFormat) });
  try {
    await taskManager.start();
  } catch (err) {
    await taskManager.close({ force: true });
    throw err;
  }
  return taskManager;
}

/**
 * The standalone TaskManager process (`cs taskmanager start`): starts it and, on SIGTERM or SIGINT,
 * closes it gracefully (in-flight batches finish, then it deregisters). A second signal exits at once.
 * `onStarted` is called once it is registered. Resolves once closed.
 */
export async function runTaskManager(
  options: ProcessOptionValues & { logger?: Logger; onStarted?: (taskManager: TaskManager) => void } = {},
): Promise<void> {
  const { logger: given, onStarted, ...values } = options;
  const resolved = resolveProcessOptions(TASKMANAGER_OPTION_NAMES, { values });
  const logger = given ?? createLogger('taskmanager', resolved.logLevel, resolved.logFormat);
  // Every Redis connection of the process (state, sources, sinks) uses these TLS files and password.
  setProcessRedisSecurity(redisSecurityOf(resolved));
  const taskManager = new TaskManager({ ...resolved, ...readJobManagerAccess(resolved), logger });
  await new Promise<void>((resolve, reject) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals): void => {
      signals += 1;
      if (signals > 1) {
        logger.warn({ component: 'taskmanager', signal }, 'taskmanager.stopping.force');
        process.exit(130);
      }
      logger.info({ component: 'taskmanager', signal }, 'taskmanager.stopping');
      void taskManager.close().finally(() => {
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
        resolve();
      });
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    taskManager.start().then(
      () => onStarted?.(taskManager),
      async (err: unknown) => {
        if (signals > 0) return; // closing on a signal aborted the registration
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
        await taskManager.close({ force: true });
        reject(err);
      },
    );
  });
}
