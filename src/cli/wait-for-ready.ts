import type { JobStatus } from '../cluster-api/dto';
import type { JobManagerClient } from '../cluster-api/jobmanager-client';
import { servesNow } from '../cluster-api/serves-now';
import { ClusterServingError, toClusterServingError } from '../errors';
import { isErrorCode } from '../errors/codes';

/** How long `cs job submit --wait` and `cs start` wait for a job to be ready, by default (ms). */
export const DEFAULT_READY_TIMEOUT_MS = 300_000;

/** The error a job's failure is: its own code (CS_ERR_MODEL_LOAD, …), one line naming the job. */
export function jobFailure(status: JobStatus): ClusterServingError {
  const code = status.failureCode !== undefined && isErrorCode(status.failureCode) ? status.failureCode : 'CS_ERR_INTERNAL';
  return new ClusterServingError(code, `job ${status.id} (${status.name}) failed: ${status.failure ?? 'no reason given'}`, { context: { jobId: status.id } });
}

/**
 * Polls the job until it serves (RUNNING with every subtask ready and placed, see servesNow) and answers
 * its status. Rejects with the job's own failure code when it FAILED, CS_ERR_CLOSED when it was canceled,
 * and CS_ERR_TIMEOUT (saying what it still waits for) after `timeoutMs`. A JobManager that cannot be
 * reached for a moment is asked again until the deadline.
 */
export async function waitForReady(client: JobManagerClient, jobId: string, options: { timeoutMs: number; intervalMs?: number; stop?: () => boolean }): Promise<JobStatus> {
  const deadline = Date.now() + options.timeoutMs;
  const intervalMs = options.intervalMs ?? 200;
  let last: JobStatus | undefined;
  let unreachable: ClusterServingError | undefined;
  for (;;) {
    let status: JobStatus | undefined;
    try {
      status = await client.jobStatus(jobId);
      unreachable = undefined;
    } catch (err) {
      const error = toClusterServingError(err);
      if (!error.retriable) throw error;
      unreachable = error;
    }
    if (status) {
      last = status;
      if (servesNow(status.state, status.subtasks)) return status;
      if (status.state === 'FAILED') throw jobFailure(status);
      if (status.state === 'CANCELED') throw new ClusterServingError('CS_ERR_CLOSED', `job ${jobId} (${status.name}) was canceled before it was ready`, { context: { jobId } });
    }
    if (options.stop?.()) throw new ClusterServingError('CS_ERR_CLOSED', `stopped waiting for job ${jobId} to be ready`, { context: { jobId } });
    if (Date.now() >= deadline) {
      const seconds = Math.round(options.timeoutMs / 1000);
      const why = unreachable ? `the JobManager cannot be reached: ${unreachable.message}` : last ? `it is ${last.state}${waitingFor(last)}` : 'no answer';
      throw new ClusterServingError('CS_ERR_TIMEOUT', `job ${jobId} is not ready after ${seconds} s: ${why}`, { context: { jobId } });
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(intervalMs, Math.max(1, deadline - Date.now()))));
  }
}

function waitingFor(status: JobStatus): string {
  const reason = status.degraded ?? status.starting;
  return reason !== undefined ? ` (${reason})` : '';
}
