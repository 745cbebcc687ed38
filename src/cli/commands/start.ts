import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Command } from 'commander';
import { clusterKeyPrefix, splitStreamKeys } from '../../cluster-api/keys';
import { JobManagerClient } from '../../cluster-api/jobmanager-client';
import { JOBMANAGER_OPTION_NAMES, type ProcessOptions } from '../../config/process-options';
import { isCodeTopology } from '../../topology/code-topology-permission';
import { resolveProcessOptions } from '../../config/resolve-process-options';
import { ClusterServingError } from '../../errors';
import { loadTopologySource } from '../../topology/load-topology';
import type { TopologySpec } from '../../topology/schema';
import type { CliOutput } from '../cli-output';
import { addProcessOptions, processOptionValues } from '../process-option-flags';
import { readTopologyFile } from '../read-topology-file';
import { onShutdownSignal } from '../shutdown-signal';
import { oneMachineClusterName, startOneMachineCluster, type OneMachineCluster } from '../one-machine-cluster';
import { DEFAULT_READY_TIMEOUT_MS, jobFailure, waitForReady } from '../wait-for-ready';

/** Where clients send requests for a job, as one line. */
export function describeRequestTarget(spec: TopologySpec, clusterRedisUrl: string): string {
  const source = spec.source;
  if (source.type === 'kafka') return `kafka ${source.brokers.join(',')} topic "${source.topic}" (${source.partitions} partition${source.partitions === 1 ? '' : 's'})`;
  const streams = splitStreamKeys(source.stream ?? spec.name, source.partitions);
  const address = (source.address ?? clusterRedisUrl).replace(/\/\/([^:/@]*):[^@]*@/, '//$1:***@');
  return `${address} stream${streams.length === 1 ? '' : 's'} ${streams.map((s) => `"${s}"`).join(', ')}`;
}

/**
 * `cs start FILE`: the one-machine shortcut (BigDL's `cluster-serving-start`): a JobManager and a
 * TaskManager (slots = max(1, parallelism)) in this process, the job submitted, until SIGINT/SIGTERM;
 * then the job is canceled and both close gracefully. An active job of the same name (left by an earlier
 * run that was killed) is canceled first, so it cannot hold the slots. It prints `ready` once the job
 * serves (every subtask has its model loaded and reads its splits). If the job fails, before or after,
 * the command stops with the failure as one line, with the failure's own code.
 */
export function startCommand(output: CliOutput): Command {
  const start = addProcessOptions(
    new Command('start').description('run a JobManager, a TaskManager and the job in this process, until SIGINT/SIGTERM').argument('<file>', 'topology file'),
    JOBMANAGER_OPTION_NAMES,
  );
  start.action(async (file: string) => {
    const values = processOptionValues(start, JOBMANAGER_OPTION_NAMES);
    const resolved = resolveProcessOptions(JOBMANAGER_OPTION_NAMES, { values });
    const source = await readTopologyFile(file);
    const withCode = { ...resolved, allowCodeTopologies: allowOwnCode(resolved, source.filename, (line) => process.stderr.write(`${line}\n`)) };
    const { spec } = (await loadTopologySource(source, join(withCode.cacheDir, 'cli'))).topology;
    await requireModelFile(spec.model.path, source.filename);
    const options = { ...withCode, cluster: oneMachineClusterName(values, spec.name) ?? withCode.cluster };
    const shutdown = onShutdownSignal(() => process.stderr.write('forced exit\n'));
    let failure: unknown;
    let cluster: OneMachineCluster | undefined;
    try {
      cluster = await startOneMachineCluster(options, source, spec, (line) => process.stderr.write(`${line}\n`));
      output.out(`job      ${cluster.jobId} (${spec.name}, parallelism ${spec.parallelism})`);
      output.out(`requests ${describeRequestTarget(spec, options.redisUrl)}`);
      output.out(`REST     ${cluster.jobManagerUrl}`);
      output.out(`web      ${cluster.jobManagerUrl}/ (the dashboard)`);
      if (cluster.grpcAddress) output.out(`gRPC     ${cluster.grpcAddress} (KServe v2 inference.GRPCInferenceService)`);
      output.out(`cluster  ${options.cluster} (its keys in Redis: ${clusterKeyPrefix(options.cluster)}*)`);
      if (options.tensorboardDir !== undefined) output.out(`TB       ${describeTensorBoardRun(spec, cluster.jobId, options.tensorboardDir)}`);
      // "ready" only once a request sent now is served: every subtask has its model loaded and reads its splits.
      const ready = await Promise.race([shutdown.received.then(() => false), waitForReady(cluster.client, cluster.jobId, { timeoutMs: DEFAULT_READY_TIMEOUT_MS, stop: shutdown.requested }).then(() => true)]);
      if (ready) {
        output.out('ready; Ctrl-C to stop');
        failure = await Promise.race([shutdown.received.then(() => undefined), watchForFailure(cluster.client, cluster.jobId, options.heartbeatIntervalMs, shutdown.requested, output)]);
      }
    } catch (err) {
      failure = err;
    } finally {
      await cluster?.close();
      shutdown.dispose();
    }
    if (failure !== undefined) throw failure;
  });
  return start;
}

/** Where `cs start`'s job writes its TensorBoard scalars (see jobmanager/tensorboard-recorder.ts), as one line. */
function describeTensorBoardRun(spec: TopologySpec, jobId: string, dir: string): string {
  if (spec.tensorboard === false) return `${dir}: none for this job (its topology says tensorboard: false)`;
  const run = typeof spec.tensorboard === 'object' ? spec.tensorboard.run : `${spec.name}-${jobId}`;
  return `${join(dir, run)} (view with: tensorboard --logdir ${dir})`;
}

/**
 * `cs start FILE.ts` runs the user's own code on the user's own machine: it allows code topologies for its
 * embedded JobManager and TaskManager when the JobManager listens on loopback only (and says so on
 * stderr). On any other address that would let others run code too, so it must then be asked for
 * (`--allow-code-topologies`); without it the command stops with one line naming the flag.
 */
function allowOwnCode(options: Pick<ProcessOptions, 'host' | 'allowCodeTopologies'>, filename: string, note: (line: string) => void): boolean {
  if (options.allowCodeTopologies || !isCodeTopology(filename)) return options.allowCodeTopologies;
  if (!isLoopback(options.host)) {
    throw new ClusterServingError(
      'CS_ERR_CONFIG',
      `${filename} is a TypeScript topology and the JobManager would listen on ${options.host}, where others could submit code too: add --allow-code-topologies to allow that, or listen on 127.0.0.1`,
    );
  }
  note(`code     ${filename} is TypeScript: code topologies are allowed for this cluster, whose JobManager listens on ${options.host} only`);
  return true;
}

/** `cs start` uploads the model to its own JobManager: the file must be readable here (one clear line otherwise). */
async function requireModelFile(path: string, topologyFile: string): Promise<void> {
  try {
    if ((await stat(path)).isFile()) return;
    throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
  } catch (err) {
    const code = (err as { code?: string }).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'not a file' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new ClusterServingError('CS_ERR_MODEL_LOAD', `cannot read the model file ${path} (model.path of ${topologyFile}): ${reason}`, { cause: err });
  }
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Polls the job every `intervalMs` until `stop()`: resolves with an error when it fails, with nothing when it is canceled. */
async function watchForFailure(client: JobManagerClient, jobId: string, intervalMs: number, stop: () => boolean, output: CliOutput): Promise<ClusterServingError | undefined> {
  while (!stop()) {
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
    if (stop()) break;
    try {
      const status = await client.jobStatus(jobId);
      if (status.state === 'FAILED') return jobFailure(status);
      if (status.state === 'CANCELED') {
        output.out(`job ${jobId} was canceled; stopping`);
        return undefined;
      }
    } catch {
      // the JobManager is in this process; a failed poll is retried next interval
    }
  }
  return undefined;
}
