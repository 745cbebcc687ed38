/**
 * The BigDL-client row of `npm run bench` (issue 13, item 7): a served BigDL-protocol job driven by the
 * unmodified released client (analytics-zoo-serving 0.11.2 by default, or bigdl-serving 2.4.0) from the
 * venv test/python/run-all.sh makes (.venv-bigdl-old: numpy < 1.25, where the released predict() works),
 * against bare onnxruntime-node on the same model file with the same session options and threads.
 *
 * Ours: closed-loop img/s with N client processes calling predict() back to back, burst img/s (enqueue
 * many, then collect with dequeue()), and the p50 of sequential predict() calls. Bare: img/s of
 * back-to-back batches of the served batch size, and the p50 of sequential single-image runs. Also the
 * TaskManager's CPU per image (its event loop alone, and the whole process with ONNX Runtime's threads),
 * from /proc, when the platform has one.
 *
 * Standalone: `node dist/test/bench/bigdl-client-bench.js [model.onnx]` (starts its own redis-server;
 * CS_BENCH_SECONDS, CS_BIGDL_BENCH_CLIENTS, CS_BIGDL_BENCH_CLIENT=zoo|bigdl) prints the figures as JSON.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { packageRoot } from '../../src/package-root';
import { bareLatencies, percentile, serve, servedSessionOptions, stop } from './bench-support';
import { sampleThreads, threadCpuMs } from './thread-cpu';

export interface BigdlClientBenchOptions {
  /** Redis the served job reads (it must run with `maxmemory 0`, or the clients drop requests). */
  readonly redisUrl: string;
  /** ONNX model with one float32 input [batch, 3, 224, 224]. */
  readonly model: string;
  /** `zoo`: analytics-zoo-serving 0.11.2 (convention 0.11); `bigdl`: bigdl-serving 2.4.0 (2.x). @default 'zoo' */
  readonly client?: 'zoo' | 'bigdl';
  /** Length of the closed-loop run and of the bare throughput run. @default 8 */
  readonly seconds?: number;
  /** Client processes in the closed loop. @default 4 */
  readonly clients?: number;
  /** Requests in the burst. @default 200 */
  readonly burst?: number;
  /** Sequential predict() calls (and bare single runs) for the p50. @default 60 */
  readonly sequential?: number;
  /** ONNX Runtime intra-op threads, served and bare. @default 2 */
  readonly threads?: number;
  /** The served batch window (and the bare batch size). @default { maxSize: 8, maxDelayMs: 2 } */
  readonly batch?: { readonly maxSize: number; readonly maxDelayMs: number };
  /** The Python with the released clients. @default <repo>/.venv-bigdl-old/bin/python */
  readonly python?: string;
}

export interface BigdlClientBenchResult {
  /** Which released client drove the server, e.g. `analytics-zoo-serving 0.11.2`. */
  readonly client: string;
  /** Ours: img/s, `clients` processes calling predict() back to back. */
  readonly closedLoop: number;
  readonly clients: number;
  /** Ours: img/s from the first enqueue of `burst` requests to the last result collected. */
  readonly burst: number;
  /** Ours: sequential predict() latency, ms. */
  readonly p50: number;
  readonly p90: number;
  /** Bare onnxruntime-node: img/s of back-to-back batches of `batch.maxSize`. */
  readonly bareThroughput: number;
  /** Bare: p50 of sequential single-image runs, ms. */
  readonly bareP50: number;
  /** closedLoop ÷ bareThroughput. */
  readonly ratio: number;
  /** p50 − bareP50, ms: what serving (client, Redis, server) adds to one request. */
  readonly p50Overhead: number;
  /** TaskManager CPU per image served, ms (whole process / its event loop); undefined without /proc. */
  readonly taskManagerCpuMsPerImage: number | undefined;
  readonly eventLoopCpuMsPerImage: number | undefined;
}

/** The client's row label and its convention. */
const CLIENTS = {
  zoo: { label: 'analytics-zoo-serving 0.11.2', convention: '0.11' },
  bigdl: { label: 'bigdl-serving 2.4.0', convention: '2.x' },
} as const;

interface ClientFigures {
  readonly closed: number;
  readonly burst: number;
  readonly p50: number;
  readonly p90: number;
  readonly requests: number;
}

async function runClientLoad(python: string, redisUrl: string, stream: string, client: 'zoo' | 'bigdl', seconds: number, clients: number, burst: number, sequential: number): Promise<ClientFigures> {
  const script = join(packageRoot(), 'test', 'bench', 'bigdl-client-load.py');
  const child = spawn(python, [script, redisUrl, stream, client, String(seconds), String(clients), String(burst), String(sequential)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  if (code !== 0) throw new Error(`the BigDL client load exited with ${code}`);
  // The released clients print notes ("redis group exist, ...") on stdout: the figures are the JSON line.
  const line = out.split('\n').reverse().find((l) => l.startsWith('{'));
  if (!line) throw new Error(`the BigDL client load printed no figures: ${out.trim()}`);
  return JSON.parse(line) as ClientFigures;
}

/** Bare onnxruntime-node: img/s of back-to-back runs of a `batch`-image input for `seconds`. */
async function bareThroughput(model: string, threads: number, batch: number, seconds: number): Promise<number> {
  const session = await ort.InferenceSession.create(model, servedSessionOptions(threads));
  try {
    const data = Float32Array.from({ length: batch * 3 * 224 * 224 }, (_, i) => Math.sin(i));
    const feeds = { [session.inputNames[0]!]: new ort.Tensor('float32', data, [batch, 3, 224, 224]) };
    for (let i = 0; i < 3; i++) await session.run(feeds);
    let runs = 0;
    const start = performance.now();
    const end = start + seconds * 1000;
    while (performance.now() < end) {
      await session.run(feeds);
      runs++;
    }
    return (runs * batch) / ((performance.now() - start) / 1000);
  } finally {
    await session.release();
  }
}

/**
 * Serves `model` as a BigDL-protocol job, drives it with the released client and measures bare ONNX
 * Runtime on the same file. Returns undefined (the caller prints the row as skipped) when the venv
 * with the released clients does not exist: `bash test/python/run-all.sh` (or run-compat.sh) makes it.
 */
export async function bigdlClientBench(options: BigdlClientBenchOptions): Promise<BigdlClientBenchResult | undefined> {
  const python = options.python ?? join(packageRoot(), '.venv-bigdl-old', 'bin', 'python');
  if (!existsSync(python)) return undefined;
  const client = options.client ?? 'zoo';
  const seconds = options.seconds ?? 8;
  const clients = options.clients ?? 4;
  const threads = options.threads ?? 2;
  const batch = options.batch ?? { maxSize: 8, maxDelayMs: 2 };
  const { label, convention } = CLIENTS[client];

  const bare = await bareThroughput(options.model, threads, batch.maxSize, seconds);
  const name = `bigdl_bench_${client}_${process.pid}`;
  const { child } = await serve({ name, source: { type: 'redis', protocol: 'bigdl', bigdlConvention: convention }, model: { path: options.model, threads, instances: 1 }, batch }, options.redisUrl);
  let figures: ClientFigures;
  let cpu: number | undefined;
  let loopCpu: number | undefined;
  try {
    const pid = child.pid!;
    const before = sampleThreads(pid);
    figures = await runClientLoad(python, options.redisUrl, name, client, seconds, clients, options.burst ?? 200, options.sequential ?? 60);
    const used = threadCpuMs(before, sampleThreads(pid));
    if (used.size > 0) {
      cpu = [...used.values()].reduce((n, t) => n + t.ms, 0) / figures.requests;
      loopCpu = (used.get(pid)?.ms ?? 0) / figures.requests;
    }
  } finally {
    await stop(child);
  }
  const cosine = Float32Array.from({ length: 3 * 224 * 224 }, (_, i) => Math.cos(i));
  const single = percentile(await bareLatencies(options.model, (names) => ({ [names[0]!]: new ort.Tensor('float32', cosine, [1, 3, 224, 224]) }), threads, options.sequential ?? 60), 0.5);
  return {
    client: label,
    closedLoop: figures.closed,
    clients,
    burst: figures.burst,
    p50: figures.p50,
    p90: figures.p90,
    bareThroughput: bare,
    bareP50: single,
    ratio: figures.closed / bare,
    p50Overhead: figures.p50 - single,
    taskManagerCpuMsPerImage: cpu,
    eventLoopCpuMsPerImage: loopCpu,
  };
}

async function main(): Promise<void> {
  const { startRedisServer } = await import('../../src/embedded/redis-server');
  const model = process.argv[2] ?? join(packageRoot(), 'models', 'cnn.onnx');
  const redis = await startRedisServer();
  try {
    const result = await bigdlClientBench({
      redisUrl: redis.url,
      model,
      seconds: Number(process.env.CS_BENCH_SECONDS ?? 8),
      clients: Number(process.env.CS_BIGDL_BENCH_CLIENTS ?? 4),
      client: process.env.CS_BIGDL_BENCH_CLIENT === 'bigdl' ? 'bigdl' : 'zoo',
    });
    process.stdout.write(`${result ? JSON.stringify(result) : 'skipped: no .venv-bigdl-old (bash test/python/run-all.sh makes it)'}\n`);
  } finally {
    await redis.stop();
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
