import { Command, Option } from 'commander';
import type { JobMetrics } from '../../cluster-api/dto';
import { JOBMANAGER_CLIENT_OPTION_NAMES } from '../../config/process-options';
import { resolveProcessOptions } from '../../config/resolve-process-options';
import { ClusterServingError } from '../../errors';
import type { CliOutput } from '../cli-output';
import { formatTop, type TopFrame } from '../format-top';
import { addJobManagerClientFlags, jobManagerClientFromFlags } from '../jobmanager-client-flags';
import { processOptionValues } from '../process-option-flags';
import { onShutdownSignal } from '../shutdown-signal';

function intervalFlag(value: string): number {
  const n = /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
  if (!(n >= 100 && n <= 60_000)) throw new ClusterServingError('CS_ERR_CONFIG', `--interval-ms must be a whole number from 100 to 60000, got "${value}"`);
  return n;
}

/**
 * `cs top`: a live view of the cluster from the JobManager (its job list, TaskManagers and each active
 * job's `GET /jobs/:jobId/metrics`), redrawn every `--interval-ms` on a terminal until Ctrl-C; with
 * `--once`, or when stdout is not a terminal, frames are printed one after another (`--once`: one, then exit).
 */
export function topCommand(output: CliOutput): Command {
  const top = addJobManagerClientFlags(
    new Command('top')
      .description('live view of the active jobs: throughput, errors, latency, batch size, lag (Ctrl-C to stop)')
      .addOption(new Option('--interval-ms <ms>', 'refresh interval').env('CS_TOP_INTERVAL_MS').default('1000'))
      .option('--once', 'print one frame and exit'),
  );
  top.action(async (flags: { intervalMs: string; once?: boolean }) => {
    const intervalMs = intervalFlag(flags.intervalMs);
    const client = jobManagerClientFromFlags(top);
    const { jobmanagerUrl } = resolveProcessOptions(['jobmanagerUrl'], { values: processOptionValues(top, JOBMANAGER_CLIENT_OPTION_NAMES) });
    const frame = async (): Promise<TopFrame> => {
      const [{ jobs }, { taskmanagers }] = await Promise.all([client.listJobs(), client.listTaskManagers()]);
      const active = jobs.filter((j) => j.state !== 'CANCELED' && j.state !== 'FAILED');
      const since = Date.now() - 5 * intervalMs;
      const metrics = new Map<string, JobMetrics>();
      await Promise.all(
        active.map(async (job) => {
          // A job that went meanwhile, or a JobManager without live figures, shows dashes.
          const m = await client.jobMetrics(job.id, since).catch(() => undefined);
          if (m) metrics.set(job.id, m);
        }),
      );
      return { at: Date.now(), jobmanagerUrl, jobs: active, metrics, taskmanagers };
    };
    if (flags.once === true) return output.out(formatTop(await frame()));
    const tty = process.stdout.isTTY === true;
    const shutdown = onShutdownSignal();
    try {
      while (!shutdown.requested()) {
        const text = formatTop(await frame());
        output.out(tty ? `\x1b[H\x1b[2J${text}` : `${text}\n`);
        await Promise.race([new Promise((resolve) => setTimeout(resolve, intervalMs).unref()), shutdown.received]);
      }
    } finally {
      shutdown.dispose();
    }
  });
  return top;
}
