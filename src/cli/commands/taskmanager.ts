import { Command } from 'commander';
import { JobManagerClient } from '../../cluster-api/jobmanager-client';
import { TASKMANAGER_OPTION_NAMES } from '../../config/process-options';
import { resolveProcessOptions } from '../../config/resolve-process-options';
import type { CliOutput } from '../cli-output';
import { formatTable } from '../format-table';
import { addProcessOptions, processOptionValues } from '../process-option-flags';

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

  const list = addProcessOptions(taskmanager.command('list').description('list registered TaskManagers'), ['jobmanagerUrl']);
  list.action(async () => {
    const { jobmanagerUrl } = resolveProcessOptions(['jobmanagerUrl'], { values: processOptionValues(list, ['jobmanagerUrl']) });
    const { taskmanagers } = await new JobManagerClient(jobmanagerUrl).listTaskManagers();
    if (taskmanagers.length === 0) return output.out('no TaskManagers');
    const now = Date.now();
    output.out(
      formatTable(
        ['ID', 'HOST', 'SLOTS', 'FREE', 'LAST HEARTBEAT', 'SUBTASKS'],
        taskmanagers.map((tm) => [
          tm.id,
          tm.host,
          String(tm.slots),
          String(tm.freeSlots),
          `${Math.max(0, Math.round((now - tm.lastHeartbeat) / 100) / 10)} s ago`,
          tm.subtasks.map((s) => `${s.jobId}/${s.subtaskIndex}`).join(',') || '-',
        ]),
      ),
    );
  });

  return taskmanager;
}
