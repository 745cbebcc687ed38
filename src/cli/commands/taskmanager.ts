import { Command } from 'commander';
import type { JobStatus, TaskManagerInfo } from '../../cluster-api/dto';
import { ClusterServingError } from '../../errors';
import { TASKMANAGER_OPTION_NAMES } from '../../config/process-options';
import type { CliOutput } from '../cli-output';
import { formatTable } from '../format-table';
import { addJobManagerClientFlags, jobManagerClientFromFlags } from '../jobmanager-client-flags';
import { addProcessOptions, processOptionValues } from '../process-option-flags';

/**
 * `cs taskmanager list` as text: one row per TaskManager (id, host, slots, free slots, last heartbeat
 * age, the URL of its Prometheus metrics) and its subtasks as `<job name>/<subtask> [<splits>]`, one per line (continuation lines leave the
 * other columns blank). `jobs` gives job names and splits; a job missing there shows its id.
 */
export function formatTaskManagerList(taskmanagers: readonly TaskManagerInfo[], jobs: ReadonlyMap<string, JobStatus>, now: number): string {
  const rows: string[][] = [];
  for (const tm of taskmanagers) {
    const age = `${Math.max(0, Math.round((now - tm.lastHeartbeat) / 100) / 10)} s ago`;
    const subtasks = tm.subtasks.map((s) => {
      const job = jobs.get(s.jobId);
      const splits = job?.subtasks.find((j) => j.index === s.subtaskIndex)?.splits;
      return `${job?.name ?? s.jobId}/${s.subtaskIndex} [${splits ? splits.join(',') : '?'}]`;
    });
    rows.push([tm.id, tm.host, String(tm.slots), String(tm.freeSlots), age, tm.metricsUrl ?? '-', subtasks[0] ?? '-']);
    for (const more of subtasks.slice(1)) rows.push(['', '', '', '', '', '', more]);
  }
  return formatTable(['ID', 'HOST', 'SLOTS', 'FREE', 'LAST HEARTBEAT', 'METRICS', 'SUBTASKS'], rows);
}

/** `cs taskmanager start|list`. */
export function taskManagerCommand(output: CliOutput): Command {
  const taskmanager = new Command('taskmanager').description('workers that run the subtasks of jobs');

  const start = addProcessOptions(
    taskmanager.command('start').description('start a TaskManager and register it with the JobManager (runs until SIGINT/SIGTERM)'),
    TASKMANAGER_OPTION_NAMES,
  );
  start.action(async () => {
    const { runTaskManager } = await import('../../../taskmanager/main');
    await runTaskManager({
      ...processOptionValues(start, TASKMANAGER_OPTION_NAMES),
      onStarted: (tm) => output.out(`TaskManager ${tm.id} registered with ${tm.options.jobmanagerUrl} (${tm.options.slots} slot${tm.options.slots === 1 ? '' : 's'})`),
    });
  });

  const list = addJobManagerClientFlags(taskmanager.command('list').description('list registered TaskManagers'));
  list.action(async () => {
    const client = jobManagerClientFromFlags(list);
    const { taskmanagers } = await client.listTaskManagers();
    if (taskmanagers.length === 0) return output.out('no TaskManagers');
    const jobIds = [...new Set(taskmanagers.flatMap((tm) => tm.subtasks.map((s) => s.jobId)))];
    // A job gone meanwhile is shown by its id.
    const statuses = await Promise.all(
      jobIds.map((id) =>
        client.jobStatus(id).catch((err: unknown) => {
          if (err instanceof ClusterServingError && err.code === 'CS_ERR_NOT_FOUND') return undefined;
          throw err;
        }),
      ),
    );
    const jobs = new Map(statuses.filter((j): j is JobStatus => j !== undefined).map((j) => [j.id, j]));
    output.out(formatTaskManagerList(taskmanagers, jobs, Date.now()));
  });

  return taskmanager;
}
