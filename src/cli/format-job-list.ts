import type { JobList } from '../cluster-api/dto';
import { formatDuration } from '../config/parse-duration';
import { formatTable } from './format-table';

/**
 * `cs job list` as text. Without `all`: the active jobs (CREATED, RUNNING, DEGRADED) and, when finished
 * ones were left out, a last line saying how many and how to see them. With `all`: every job the
 * JobManager still holds, finished ones with the time they finished; the JobManager removes a finished job
 * `jobRetentionMs` after it finished (`--job-retention`), which the last line says.
 */
export function formatJobList(list: JobList, all: boolean): string {
  const finished = (state: string): boolean => state === 'CANCELED' || state === 'FAILED';
  const shown = all ? list.jobs : list.jobs.filter((j) => !finished(j.state));
  const hidden = list.jobs.length - shown.length;
  const kept = list.jobRetentionMs !== undefined ? `, kept ${formatDuration(list.jobRetentionMs)} after they finish` : '';
  const lines: string[] = [];
  if (shown.length === 0) lines.push(all ? 'no jobs' : 'no active jobs');
  else {
    const iso = (ms: number | undefined): string => (ms === undefined ? '-' : new Date(ms).toISOString());
    const header = ['ID', 'NAME', 'STATE', 'PARALLELISM', 'SUBMITTED', ...(all ? ['FINISHED'] : [])];
    lines.push(formatTable(header, shown.map((j) => [j.id, j.name, j.state, String(j.parallelism), iso(j.submittedAt), ...(all ? [iso(j.finishedAt)] : [])])));
  }
  if (hidden > 0) lines.push(`${hidden} finished job${hidden === 1 ? '' : 's'} not shown: cs job list --all${kept}`);
  else if (all && kept !== '' && list.jobs.some((j) => finished(j.state))) lines.push(`finished jobs are${kept.slice(1)}`);
  return lines.join('\n');
}
