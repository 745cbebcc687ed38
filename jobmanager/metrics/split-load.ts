import type { JobStore } from '../state/job-store';
import type { SplitProgressReader } from '../state/split-progress';

/**
 * Reads a job's lag (entries not yet delivered) and pending entries (delivered, not acknowledged), summed
 * over its splits, as `cs job status` shows them per split (SplitProgressReader). A job's splits never
 * change after submit, so they are read from the job store once per job. Jobs whose splits are not
 * shared Redis streams (Kafka partitions) answer zero.
 */
export function splitLoadReader(jobs: JobStore, progress: SplitProgressReader): (jobId: string) => Promise<{ lag: number; pending: number }> {
  const splitsOf = new Map<string, Promise<readonly string[]>>();
  return async (jobId) => {
    let splits = splitsOf.get(jobId);
    if (!splits) {
      splits = jobs.get(jobId).then((job) => (job && job.sharing === 'share' ? job.splits : []));
      splitsOf.set(jobId, splits);
      splits.catch(() => splitsOf.delete(jobId));
    }
    let lag = 0;
    let pending = 0;
    for (const split of await progress.progress(jobId, await splits)) {
      lag += split.lag ?? 0;
      pending += split.pending;
    }
    return { lag, pending };
  };
}
