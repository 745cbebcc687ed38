import type { RegisterTaskManagerRequest, RegisterTaskManagerResponse } from '../src/cluster-api/dto';
import type { JobManagerClient } from '../src/cluster-api/jobmanager-client';
import { ClusterServingError, toClusterServingError } from '../src/errors';
import type { Logger } from '../src/logging/logger';
import { backoffDelay, type BackoffOptions } from '../src/retry/backoff';

/** Backoff between registration attempts (the product's one backoff policy, src/retry/). */
export const DEFAULT_REGISTRATION_BACKOFF: BackoffOptions = Object.freeze({ initialMs: 200, maxMs: 5000 });

/** Resolves after `ms`, or rejects with CS_ERR_CLOSED as soon as `signal` aborts. */
function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new ClusterServingError('CS_ERR_CLOSED', 'registration aborted'));
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new ClusterServingError('CS_ERR_CLOSED', 'registration aborted'));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Registers a TaskManager with the JobManager, retrying until it answers (a JobManager that is still
 * starting or restarting is normal). Only retriable errors are retried: a refused registration (e.g. a
 * bad id) fails at once. Rejects with CS_ERR_CLOSED as soon as `signal` aborts, even mid-wait (which is
 * why the wait is here and not src/retry's `retry`).
 */
export async function registerWithJobManager(
  client: JobManagerClient,
  request: RegisterTaskManagerRequest,
  options: { signal: AbortSignal; logger: Logger; backoff?: BackoffOptions },
): Promise<RegisterTaskManagerResponse> {
  const backoff = options.backoff ?? DEFAULT_REGISTRATION_BACKOFF;
  for (let attempt = 1; ; attempt++) {
    if (options.signal.aborted) throw new ClusterServingError('CS_ERR_CLOSED', 'registration aborted');
    try {
      const response = await client.registerTaskManager(request);
      options.logger.info({ jobmanager: client.baseUrl, attempt, ...response }, 'taskmanager.registered');
      return response;
    } catch (err) {
      const error = toClusterServingError(err);
      if (!error.retriable) throw error;
      const level = attempt === 1 || attempt % 10 === 0 ? 'warn' : 'debug';
      options.logger[level]({ jobmanager: client.baseUrl, attempt, reason: error.message }, 'taskmanager.registration.retry');
    }
    await delay(backoffDelay(attempt - 1, backoff), options.signal);
  }
}
