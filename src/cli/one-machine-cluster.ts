import { readFile } from 'node:fs/promises';
import { rootCertificates } from 'node:tls';
import { JobManagerClient } from '../cluster-api/jobmanager-client';
import { readToken } from '../config/read-jobmanager-access';
import type { TopologySource } from '../cluster-api/dto';
import type { ProcessOptions, RedisSecurityOptionName } from '../config/process-options';
import type { TopologySpec } from '../topology/schema';
import { join } from 'node:path';
import { submitTopology } from './submit-topology';
import { PROCESS_OPTIONS } from '../config/process-options';
import type { ProcessOptionValues } from '../config/resolve-process-options';

/**
 * The cluster name of a one-machine cluster (`cs start`, `cs demo`): the one given (`--cluster` or
 * `CS_CLUSTER`), else `start-<job name>` (cut to a valid name). So a `cs start` beside another cluster on
 * the same Redis (a `cs jobmanager start`, or a `cs start` of another topology) keeps to its own keys and
 * TaskManager without anyone choosing names, while a second run of the same topology finds the job an
 * earlier, killed run left.
 */
export function oneMachineClusterName(given: ProcessOptionValues, jobName: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (given.cluster !== undefined || (env[PROCESS_OPTIONS.cluster.env] ?? '') !== '') return undefined;
  return `start-${jobName.replace(/[^A-Za-z0-9_-]/g, '-')}`.slice(0, 32);
}

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
 * max(1, parallelism) slots. `onNote` hears about such clean-ups. A token given to the JobManager is
 * passed to the TaskManager and the client; with TLS they trust the JobManager's own certificate
 * besides the system's CAs.
 */
export async function startOneMachineCluster(
  options: Pick<ProcessOptions, 'redisUrl' | 'host' | 'port' | 'grpcPort' | 'heartbeatIntervalMs' | 'heartbeatTimeoutMs' | 'cacheDir' | 'allowCodeTopologies' | 'modelDirs' | 'cluster'> &
    Partial<Pick<ProcessOptions, 'token' | 'tokenFile' | 'insecure' | 'tlsCert' | 'tlsKey' | 'logLevel' | 'logFormat' | 'jobRetentionMs' | 'tensorboardDir' | RedisSecurityOptionName>>,
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
    const token = readToken(options);
    const ca = options.tlsCert === undefined ? undefined : [...rootCertificates, await readFile(options.tlsCert)];
    const client = new JobManagerClient(jobManager.url, { token, ca });
    for (const stale of (await client.listJobs()).jobs) {
      if (stale.name === spec.name && (stale.state === 'CREATED' || stale.state === 'RUNNING' || stale.state === 'DEGRADED')) {
        await client.cancelJob(stale.id);
        onNote(`canceled job ${stale.id} (${stale.name}) left by an earlier run`);
      }
    }
    const taskManager = await startTaskManager({ jobmanagerUrl: jobManager.url, redisUrl: options.redisUrl, cacheDir: options.cacheDir, slots: Math.max(1, spec.parallelism), token, ca,
      allowCodeTopologies: options.allowCodeTopologies,
      modelDirs: options.modelDirs,
      redisCaFile: options.redisCaFile,
      redisCertFile: options.redisCertFile,
      redisKeyFile: options.redisKeyFile,
      redisPasswordFile: options.redisPasswordFile,
      logLevel: options.logLevel,
      logFormat: options.logFormat,
    });
    closers.unshift(() => taskManager.close());
    const { jobId } = await submitTopology(client, source, { spec, cacheDir: join(options.cacheDir, 'cli') });
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
