import type { JobMetrics, JobSummary, TaskManagerInfo } from '../cluster-api/dto';
import { formatTable } from './format-table';

/** One frame of `cs top`: what the JobManager answered at `at`. */
export interface TopFrame {
  readonly at: number;
  readonly jobmanagerUrl: string;
  readonly jobs: readonly JobSummary[];
  /** Per job id, its live figures; absent when the JobManager had none (yet) for it. */
  readonly metrics: ReadonlyMap<string, JobMetrics>;
  readonly taskmanagers: readonly TaskManagerInfo[];
}

const fixed = (v: number | null | undefined, digits: number): string => (v === null || v === undefined ? '-' : v.toFixed(digits));

/**
 * `cs top` as text: a header (time, JobManager, TaskManagers and free slots), then one row per active
 * job with its latest sample (requests and errors per second, end-to-end latency p50/p99 in ms, mean batch
 * size, lag and pending entries summed over its splits) and its totals since submit.
 */
export function formatTop(frame: TopFrame): string {
  const slots = frame.taskmanagers.reduce((n, tm) => n + tm.slots, 0);
  const free = frame.taskmanagers.reduce((n, tm) => n + tm.freeSlots, 0);
  const header = `cs top  ${new Date(frame.at).toISOString()}  ${frame.jobmanagerUrl}  ${frame.taskmanagers.length} TaskManager${frame.taskmanagers.length === 1 ? '' : 's'}, ${free}/${slots} slots free`;
  if (frame.jobs.length === 0) return `${header}\n\nno active jobs`;
  const rows = frame.jobs.map((job) => {
    const m = frame.metrics.get(job.id);
    const p = m?.points.at(-1);
    return [
      job.name,
      job.state,
      String(job.parallelism),
      fixed(p?.requestsPerSec, 1),
      fixed(p?.errorsPerSec, 1),
      fixed(p?.latencyP50Ms, 2),
      fixed(p?.latencyP99Ms, 2),
      fixed(p?.meanBatchSize, 1),
      p ? String(p.lag) : '-',
      p ? String(p.pending) : '-',
      m ? String(m.totals.requests) : '-',
      m ? String(m.totals.errors) : '-',
    ];
  });
  return `${header}\n\n${formatTable(['JOB', 'STATE', 'PAR', 'REQ/S', 'ERR/S', 'P50 MS', 'P99 MS', 'BATCH', 'LAG', 'PENDING', 'REQUESTS', 'ERRORS'], rows)}`;
}
