import { Command } from 'commander';
import { join } from 'node:path';
import { JOBMANAGER_OPTION_NAMES, PROCESS_OPTIONS } from '../../config/process-options';
import { setProcessLogging } from '../../logging/logger';
import { redactRedisUrl } from '../../redis/redis-security';
import { resolveProcessOptions } from '../../config/resolve-process-options';
import { ClusterServingError } from '../../errors';
import { InputQueue } from '../../client/input-queue';
import { pingRedis, startRedisServer, type EmbeddedRedis } from '../../embedded/redis-server';
import { defaultModelsDir, ensureModels } from '../../models/generate';
import { tinyReference } from '../../models/tiny-mlp';
import { packageRoot } from '../../package-root';
import { loadTopologySource } from '../../topology/load-topology';
import { toTypedArray } from '../../tensor/tensor';
import type { CliOutput } from '../cli-output';
import { addProcessOptions, processOptionValues } from '../process-option-flags';
import { readTopologyFile } from '../read-topology-file';
import { startProgress, withProgress } from '../progress';
import { oneMachineClusterName, startOneMachineCluster } from '../one-machine-cluster';

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
}

/**
 * `cs demo`: the whole product on one machine in one command. Generates the example models, uses the
 * Redis at --redis / CS_REDIS_URL if one answers there (else starts a redis-server on a free port),
 * runs topologies/tiny.yaml as `cs start` would, checks a result against a direct computation, then
 * prints throughput (many requests in flight) and latency (one at a time), and stops everything.
 */
export function demoCommand(output: CliOutput): Command {
  const demo = addProcessOptions(
    new Command('demo')
      .description('serve the example tiny model end to end and print throughput and latency')
      .option('--requests <n>', 'requests for the throughput run', '20000')
      .option('--window <n>', 'requests in flight during the throughput run', '512'),
    JOBMANAGER_OPTION_NAMES,
  );
  demo.action(async (opts: { requests: string; window: string }) => {
    const requests = Number(opts.requests);
    const window = Number(opts.window);
    if (!Number.isInteger(requests) || requests < 1 || !Number.isInteger(window) || window < 1) {
      throw new ClusterServingError('CS_ERR_CONFIG', '--requests and --window must be positive integers');
    }
    const values = processOptionValues(demo, JOBMANAGER_OPTION_NAMES);
    // The demo's own lines are the point: the processes' logs are at warn unless asked (flag or CS_LOG_LEVEL).
    const quiet = (process.env[PROCESS_OPTIONS.logLevel.env] ?? '') === '' ? { logLevel: 'warn' } : {};
    const options = resolveProcessOptions(JOBMANAGER_OPTION_NAMES, { values: { port: '0', ...quiet, ...values } });
    setProcessLogging({ level: options.logLevel, format: options.logFormat });
    await withProgress('demo: example models', () => ensureModels(defaultModelsDir(), ['tiny', 'cnn']), { summary: () => 'ready' });
    const url = new URL(options.redisUrl);
    let embedded: EmbeddedRedis | undefined;
    if (!(await pingRedis(url.hostname, Number(url.port || 6379)))) {
      embedded = await startRedisServer();
      output.out(`redis    none answered at ${redactRedisUrl(options.redisUrl)}; started redis-server at ${embedded.url}`);
    } else output.out(`redis    ${redactRedisUrl(options.redisUrl)}`);
    const redisUrl = embedded?.url ?? options.redisUrl;
    const file = join(packageRoot(), 'topologies', 'tiny.yaml');
    const source = await readTopologyFile(file);
    const { spec } = (await loadTopologySource(source, join(options.cacheDir, 'cli'))).topology;
    const stream = (spec.source.type === 'redis' ? spec.source.stream : undefined) ?? spec.name;
    const cluster = await withProgress('demo: JobManager, TaskManager and job', () => startOneMachineCluster({ ...options, redisUrl, cluster: oneMachineClusterName(values, spec.name) ?? options.cluster }, source, spec, (line) => output.out(line)), { summary: () => 'started' });
    const queue = new InputQueue({ redis: redisUrl, stream });
    try {
      output.out(`job      ${cluster.jobId} (${file})`);
      const row = Float32Array.from({ length: 16 }, (_, i) => Math.cos(i));
      const input = { input: { data: row, shape: [1, 16] } };
      // The TaskManager starts the subtask on its heartbeat: the first answer says it is serving.
      const first = await withProgress('demo: first request (the TaskManager loads the model)', () => queue.predict(input, { timeoutMs: 30_000 }), { summary: () => 'answered' });
      const got = toTypedArray(first.get('output')!) as Float32Array;
      const want = tinyReference(row, 1);
      const maxError = Math.max(...got.map((v, i) => Math.abs(v - want[i]!)));
      output.out(`correct  output equals the model computed directly (max error ${maxError.toExponential(1)})`);
      if (!(maxError < 1e-5)) throw new ClusterServingError('CS_ERR_INTERNAL', `served output differs from the direct computation by ${maxError}`);

      let sent = 0;
      let answered = 0;
      const start = performance.now();
      const throughput = startProgress('demo: throughput run');
      const counter = setInterval(() => throughput.update(`${answered.toLocaleString('en')} of ${requests.toLocaleString('en')} answered`), 200);
      await Promise.all(
        Array.from({ length: Math.min(window, requests) }, async () => {
          while (sent < requests) {
            sent++;
            await queue.predict(input, { timeoutMs: 60_000 });
            answered++;
          }
        }),
      ).finally(() => clearInterval(counter));
      throughput.done(`${answered.toLocaleString('en')} answered`);
      const seconds = (performance.now() - start) / 1000;
      output.out(`through  ${requests} requests in ${seconds.toFixed(2)} s = ${Math.round(requests / seconds).toLocaleString('en')} requests/s (${window} in flight)`);

      const latencies: number[] = [];
      await withProgress('demo: latency run, one request at a time', async (progress) => {
        for (let i = 0; i < 500; i++) {
          const t = performance.now();
          await queue.predict(input);
          latencies.push(performance.now() - t);
          if (i % 50 === 49) progress.update(`${i + 1} of 500`);
        }
      });
      latencies.sort((a, b) => a - b);
      output.out(`latency  p50 ${percentile(latencies, 0.5).toFixed(2)} ms, p99 ${percentile(latencies, 0.99).toFixed(2)} ms (one request at a time, 500 requests)`);
      output.out('next     npm run bench (ratios to bare ONNX Runtime), cs start topologies/cnn.yaml');
    } finally {
      await queue.close();
      await cluster.close();
      await embedded?.stop();
    }
  });
  return demo;
}
