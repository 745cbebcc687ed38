import { Command, InvalidArgumentError } from 'commander';
import type { JobStatus } from '../../cluster-api/dto';
import type { JobManagerClient } from '../../cluster-api/jobmanager-client';
import type { CliOutput } from '../cli-output';
import { formatTable } from '../format-table';
import { formatJobList } from '../format-job-list';
import { addJobManagerClientFlags, jobManagerClientFromFlags } from '../jobmanager-client-flags';
import { resolveProcessOptions } from '../../config/resolve-process-options';
import { readTopologyFile } from '../read-topology-file';
import { submitTopology } from '../submit-topology';
import { DEFAULT_READY_TIMEOUT_MS, waitForReady } from '../wait-for-ready';
import { join } from 'node:path';

function client(command: Command): JobManagerClient {
  return jobManagerClientFromFlags(command);
}

function withJobManagerFlag(command: Command): Command {
  return addJobManagerClientFlags(command);
}

/**
 * `cs job status` as text: a header (with the DEGRADED reason, the dead-letter count and the recent events
 * when there are any), one row per subtask (subtask, TaskManager, splits), then the model
 * file's declared inputs and outputs (name, dtype, shape; `?` is a dynamic dimension such as the batch)
 * when the JobManager can read it, then, when the JobManager reports split progress, one row per split (its subtasks and their TaskManagers, lag,
 * pending entries, checkpoint).
 */
export function formatJobStatus(job: JobStatus): string {
  const lines = [
    `job ${job.id}  ${job.name}  ${job.state}`,
    `file ${job.filename}, parallelism ${job.parallelism}, submitted ${new Date(job.submittedAt).toISOString()}`,
  ];
  if (job.failure) lines.push(`failure: ${job.failure}${job.failureCode ? ` (${job.failureCode})` : ''}`);
  if (job.degraded) lines.push(`degraded: ${job.degraded}`);
  if (job.starting) lines.push(`starting: ${job.starting}`);
  if (job.deadLetter) lines.push(`dead letters: ${job.deadLetter.entries} in ${job.deadLetter.stream}`);
  const recreated = job.eventCounts?.group_recreated ?? 0;
  if (recreated > 0) lines.push(`consumer groups recreated: ${recreated}`);
  for (const e of job.events ?? []) lines.push(`event ${new Date(e.at).toISOString()} ${e.kind} ${e.split} (subtask ${e.subtaskIndex} on ${e.taskManagerId}): ${e.message}`);
  lines.push('');
  lines.push(
    formatTable(
      ['SUBTASK', 'TASKMANAGER', 'SPLITS'],
      job.subtasks.map((s) => [String(s.index), s.taskManagerId ?? '-', s.splits.join(',') || '-']),
    ),
  );
  if (job.model) {
    const rows = (kind: string, tensors: NonNullable<JobStatus['model']>['inputs']) => tensors.map((t) => [kind, t.name, t.dtype, `[${t.shape.map((d) => (d < 0 ? '?' : String(d))).join(', ')}]`]);
    lines.push('');
    lines.push(formatTable(['MODEL', 'NAME', 'DTYPE', 'SHAPE'], [...rows('input', job.model.inputs), ...rows('output', job.model.outputs)]));
  }
  if (job.splitProgress && job.splitProgress.length > 0) {
    lines.push('');
    lines.push(
      formatTable(
        ['SPLIT', 'SUBTASK', 'TASKMANAGER', 'LAG', 'PENDING', 'CHECKPOINT'],
        job.splitProgress.map((p) => {
          const readers = job.subtasks.filter((s) => s.splits.includes(p.split));
          return [
            p.split,
            readers.map((s) => String(s.index)).join(',') || '-',
            [...new Set(readers.map((s) => s.taskManagerId ?? '-'))].join(',') || '-',
            p.lag === null ? '?' : String(p.lag),
            String(p.pending),
            p.checkpoint ?? '-',
          ];
        }),
      ),
    );
  }
  return lines.join('\n');
}

/** `--wait-timeout` of `cs job submit`: a positive number of seconds, at most a day. */
function parseSecondsFlag(value: string): number {
  const n = /^\s*[0-9]+(\.[0-9]+)?\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isFinite(n) || n <= 0 || n > 86_400) throw new InvalidArgumentError('must be a number of seconds from 0 to 86400.');
  return n;
}

/** `--parallelism` of `cs job rescale`: an integer from 1 to 1024. */
function parseParallelismFlag(value: string): number {
  const n = /^\s*[0-9]+\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 1024) throw new InvalidArgumentError('must be an integer from 1 to 1024.');
  return n;
}

/** `cs job submit|list|status|cancel|rescale`: talk to the JobManager's REST API. */
export function jobCommand(output: CliOutput): Command {
  const job = new Command('job').description('submit, list, inspect, rescale and cancel jobs');

  const submit = withJobManagerFlag(
    job
      .command('submit')
      .description('submit a topology file (YAML or TypeScript) with the model file it names (uploaded when readable here); prints the job id')
      .argument('<file>', 'topology file')
      .option('--wait', 'then wait until the job can serve (every subtask has its model loaded and reads its splits) and print "ready"; exit 1 if it fails or the wait times out')
      .option('--wait-timeout <seconds>', `how long --wait waits (default ${DEFAULT_READY_TIMEOUT_MS / 1000})`, parseSecondsFlag),
  );
  submit.action(async (file: string, flags: { wait?: boolean; waitTimeout?: number }) => {
    const topology = await readTopologyFile(file);
    const { cacheDir } = resolveProcessOptions(['cacheDir']);
    const jobs = client(submit);
    const { jobId } = await submitTopology(jobs, topology, { cacheDir: join(cacheDir, 'cli') });
    output.out(jobId);
    if (flags.wait !== true) return;
    await waitForReady(jobs, jobId, { timeoutMs: flags.waitTimeout !== undefined ? flags.waitTimeout * 1000 : DEFAULT_READY_TIMEOUT_MS });
    output.out('ready');
  });

  const list = withJobManagerFlag(
    job
      .command('list')
      .description('list the active jobs (--all: finished ones too, until the JobManager removes them after --job-retention)')
      .option('--all', 'also the finished (CANCELED, FAILED) jobs the JobManager still keeps, with when they finished'),
  );
  list.action(async (flags: { all?: boolean }) => {
    output.out(formatJobList(await client(list).listJobs(), flags.all === true));
  });

  const status = withJobManagerFlag(job.command('status').description('show a job and where its subtasks run').argument('<id>', 'job id'));
  status.action(async (id: string) => {
    output.out(formatJobStatus(await client(status).jobStatus(id)));
  });

  const cancel = withJobManagerFlag(job.command('cancel').description('cancel a job (its subtasks stop on the next heartbeat)').argument('<id>', 'job id'));
  cancel.action(async (id: string) => {
    const result = await client(cancel).cancelJob(id);
    output.out(`job ${result.id} ${result.state}`);
  });

  const rescale = withJobManagerFlag(
    job
      .command('rescale')
      .description('change a running job\'s parallelism (the TaskManagers start and stop subtasks on their next heartbeat)')
      .argument('<id>', 'job id')
      .requiredOption('--parallelism <n>', 'new number of subtasks (1..1024)', parseParallelismFlag),
  );
  rescale.action(async (id: string, flags: { parallelism: number }) => {
    const result = await client(rescale).rescaleJob(id, flags.parallelism);
    output.out(`job ${result.id} ${result.state} parallelism ${result.parallelism}`);
  });

  return job;
}
