import { JobManagerClient } from '../cluster-api/jobmanager-client';
import type { TopologySource } from '../cluster-api/dto';
import type { ProcessOptions, RedisSecurityOptionName } from '../config/process-options';
import type { TopologySpec } from '../topology/schema';

/** A JobManager, a TaskManager and one submitted job, all in this process (`cs start`, `cs demo`). */
export interface OneMachineCluster {
  readonly jobId: string;
  readonly jobManagerUrl: string;
  /** host:port of the JobManager's KServe v2 gRPC API; undefined when it is off. */
  readonly grpcAddress: string | undefined;
  readonly client: JobManagerClient;
  /** Cancels the job, then closes the TaskManager (finishing in-flight batches) and the JobManager. */
  close(): Promise<void>;
}

/**
 * Starts the one-machine cluster for `spec`: an active job of the same name left by an earlier run
 * that was killed is canceled first, so it cannot hold the slots; the TaskManager gets
 * max(1, parallelism) slots. `onNote` hears about such clean-ups.
 */
export async function startOneMachineCluster(
  options: Pick<ProcessOptions, 'redisUrl' | 'host' | 'port' | 'grpcPort' | 'heartbeatIntervalMs' | 'heartbeatTimeoutMs' | 'cacheDir'> & Partial<Pick<ProcessOptions, RedisSecurityOptionName>>,
  source: TopologySource,
  spec: TopologySpec,
  onNote: (line: string) => void = () => undefined,
): Promise<OneMachineCluster> {
  const [{ startJobManager }, { startTaskManager }] = await Promise.all([import('../../jobmanager/main'), import('../../taskmanager/main')]);
  const closers: (() => Promise<void>)[] = [];
  const close = async (): Promise<void> => {
    for (const c of closers.splice(0)) await c().catch(() => undefined);
  };
  try {
    const jobManager = await startJobManager({ ...options });
    closers.unshift(() => jobManager.close());
    const client = new JobManagerClient(jobManager.url);
    for (const stale of (await client.listJobs()).jobs) {
      if (stale.name === spec.name && (stale.state === 'CREATED' || stale.state === 'RUNNING')) {
        await client.cancelJob(stale.id);
        onNote(`canceled job ${stale.id} (${stale.name}) left by an earlier run`);
      }
    }
    const taskManager = await startTaskManager({
      jobmanagerUrl: jobManager.url,
      redisUrl: options.redisUrl,
      cacheDir: options.cacheDir,
      slots: Math.max(1, spec.parallelism),
      redisCaFile: options.redisCaFile,
      redisCertFile: options.redisCertFile,
      redisKeyFile: options.redisKeyFile,
      redisPasswordFile: options.redisPasswordFile,
    });
    closers.unshift(() => taskManager.close());
    const { jobId } = await client.submitJob(source);
    closers.unshift(async () => {
      await client.cancelJob(jobId);
    });
    await taskManager.heartbeatNow();
    return { jobId, jobManagerUrl: jobManager.url, grpcAddress: jobManager.grpcAddress, client, close };
  } catch (err) {
    await close();
    throw err;
  }
}
