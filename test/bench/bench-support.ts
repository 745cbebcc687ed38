/**
 * What every bench section shares: the figure record, starting a served subtask (or `cs start`) in its
 * own process, closed-loop load through the TypeScript client, and bare ONNX Runtime loops on worker
 * threads of this process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Worker } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { freePort } from '../../src/embedded/free-port';
import { packageRoot } from '../../src/package-root';
import { InputQueue } from '../../src/client/input-queue';
import type { TopologyInput } from '../../src/topology/schema';
import { processCpuMs } from './thread-cpu';

/** One line of the bench's main table. */
export interface Figure {
  readonly name: string;
  readonly ours: number;
  readonly bare: number;
  readonly unit: string;
  readonly ratio: number;
  readonly target: string;
  readonly met: boolean;
}

/** Seconds per measurement (CS_BENCH_SECONDS, default 8). */
export const SECONDS = Number(process.env.CS_BENCH_SECONDS ?? 8);

export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/** A served subtask (test/bench/serve-subtask.ts) and the ids of its model's threads. */
export interface Served {
  readonly child: ChildProcess;
  readonly modelThreads: ReadonlySet<number>;
}

/** Runs one TaskManager slot for `spec` in its own process; resolves once it serves. */
export async function serve(spec: TopologyInput, redisUrl: string): Promise<Served> {
  const child = spawn(process.execPath, [join(__dirname, 'serve-subtask.js'), JSON.stringify(spec), redisUrl], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const line = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`serving process exited with ${code}`)));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const at = out.indexOf('\n');
      if (out.startsWith('ready') && at > 0) resolve(out.slice(0, at));
    });
  });
  child.removeAllListeners('exit');
  const { modelThreads } = JSON.parse(line.slice('ready'.length)) as { modelThreads: number[] };
  return { child, modelThreads: new Set(modelThreads) };
}

/** `cs start` of a topology (written to a temp file) on a free port: the product as a user runs it. */
export async function csStart(spec: TopologyInput, redisUrl: string, extraArgs: readonly string[] = []): Promise<{ child: ChildProcess; url: string; port: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'cs-bench-'));
  const file = join(dir, `${spec.name}.json.yaml`);
  writeFileSync(file, JSON.stringify(spec)); // JSON is YAML
  const port = await freePort();
  const child = spawn(process.execPath, [join(packageRoot(), 'bin', 'cs.js'), 'start', file, '--port', String(port), '--redis', redisUrl, '--cache-dir', join(dir, 'cache'), ...extraArgs], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, CS_LOG_LEVEL: 'warn', CS_HEARTBEAT_INTERVAL_MS: '200' },
  });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`cs start exited with ${code}`)));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready;')) resolve();
    });
  });
  child.removeAllListeners('exit');
  const q = new InputQueue({ redis: redisUrl, stream: spec.name });
  try {
    for (let i = 0; ; i++) {
      try {
        await q.predict({ input: { data: new Float32Array(16), shape: [1, 16] } }, { timeoutMs: 1000 });
        break;
      } catch (err) {
        if (i > 30) throw err;
      }
    }
  } finally {
    await q.close();
  }
  return { child, url: `http://127.0.0.1:${port}`, port };
}

export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

export type PredictInput = Parameters<InputQueue['predict']>[0];

/** Keeps `window` predicts in flight for `seconds`; returns completed requests and their rate. */
export async function servedLoad(q: InputQueue, input: () => PredictInput, window: number, seconds = SECONDS): Promise<{ completed: number; rate: number }> {
  let completed = 0;
  let failed = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      try {
        await q.predict(input(), { timeoutMs: 60_000 });
        completed++;
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: window }, worker));
  if (failed > 0) throw new Error(`${failed} requests failed during the throughput run`);
  return { completed, rate: completed / ((performance.now() - start) / 1000) };
}

/** Requests/s of {@link servedLoad}. */
export async function servedThroughput(q: InputQueue, input: () => PredictInput, window: number, seconds = SECONDS): Promise<number> {
  return (await servedLoad(q, input, window, seconds)).rate;
}

/** One request at a time, `n` times after 10 warm-up requests: sorted latencies in ms. */
export async function servedLatencies(q: InputQueue, input: () => PredictInput, n: number): Promise<number[]> {
  for (let i = 0; i < 10; i++) await q.predict(input());
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await q.predict(input());
    out.push(performance.now() - t);
  }
  return out.sort((a, b) => a - b);
}

/** Bare throughput: items/s summed over the instances, and this process's CPU ms per item meanwhile. */
export interface BareRun {
  readonly rate: number;
  readonly cpuMsPerItem: number;
}

/**
 * Bare onnxruntime-node: `instances` sessions, each in a tight loop of back-to-back runs of one batch
 * on its own worker thread (the layout the served topology uses), started together.
 */
export async function bareThroughput(model: string, dims: number[], threads: number, instances: number, spinning: boolean, seconds = SECONDS): Promise<BareRun> {
  const workers = Array.from({ length: instances }, () => new Worker(join(__dirname, 'bare-loop-worker.js'), { workerData: { model, threads, dims, seconds, spinning } }));
  const message = (w: Worker, key: 'ready' | 'runs'): Promise<{ runs?: number; ms?: number }> =>
    new Promise((resolve, reject) => {
      const on = (m: { ready?: boolean; runs?: number; ms?: number }): void => {
        if (m[key] === undefined) return;
        w.off('message', on);
        resolve(m);
      };
      w.on('message', on);
      w.once('error', reject);
    });
  try {
    await Promise.all(workers.map((w) => message(w, 'ready')));
    const startAt = Date.now() + 50;
    const done = Promise.all(workers.map((w) => message(w, 'runs')));
    for (const w of workers) w.postMessage({ startAt });
    await new Promise((r) => setTimeout(r, Math.max(0, startAt - Date.now())));
    const cpuAtStart = processCpuMs();
    const results = await done;
    const cpu = processCpuMs() - cpuAtStart;
    const items = results.reduce((n, r) => n + r.runs! * dims[0]!, 0);
    return { rate: results.reduce((n, r) => n + (r.runs! * dims[0]!) / (r.ms! / 1000), 0), cpuMsPerItem: cpu / Math.max(1, items) };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** The session options the served workers use (src/runtime/onnx-worker.ts), spinning off by default. */
export function servedSessionOptions(threads: number, spinning = false): ort.InferenceSession.SessionOptions {
  const spin = spinning ? '1' : '0';
  return {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    extra: { session: { intra_op: { allow_spinning: spin }, inter_op: { allow_spinning: spin } } },
  };
}

/**
 * Bare single-request latency: `n` sequential runs (after 5 warm-up runs) with the served sessions'
 * options; `feeds` gets the model's input names. Sorted ms.
 */
export async function bareLatencies(model: string, feeds: (inputNames: readonly string[]) => Record<string, ort.Tensor>, threads: number, n: number): Promise<number[]> {
  const session = await ort.InferenceSession.create(model, servedSessionOptions(threads));
  try {
    const input = feeds(session.inputNames);
    for (let i = 0; i < 5; i++) await session.run(input);
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      await session.run(input);
      out.push(performance.now() - t);
    }
    return out.sort((a, b) => a - b);
  } finally {
    await session.release();
  }
}
