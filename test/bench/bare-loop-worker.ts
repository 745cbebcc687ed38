/**
 * Bare onnxruntime-node in a tight loop on a worker thread (no serving code at all): the baseline for
 * one or several model instances side by side, with the same session options the served workers use
 * (spinning on or off). workerData: { model, threads, dims, seconds, spinning }. Posts `{ ready }` once
 * loaded and warmed up, waits for `{ startAt }` (so that every instance's timed loop starts together,
 * however long loading took), then posts `{ runs, ms }`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';

interface LoopInit {
  readonly model: string;
  readonly threads: number;
  readonly dims: number[];
  readonly seconds: number;
  readonly spinning: boolean;
}

async function main(): Promise<void> {
  const init = workerData as LoopInit;
  const spin = init.spinning ? '1' : '0';
  const session = await ort.InferenceSession.create(init.model, {
    intraOpNumThreads: init.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    extra: { session: { intra_op: { allow_spinning: spin }, inter_op: { allow_spinning: spin } } },
  });
  const size = init.dims.reduce((a, b) => a * b, 1);
  const data = Float32Array.from({ length: size }, (_, i) => Math.sin(i));
  const feeds = { input: new ort.Tensor('float32', data, init.dims) };
  for (let i = 0; i < 3; i++) await session.run(feeds);
  const { startAt } = await new Promise<{ startAt: number }>((resolve) => {
    parentPort!.once('message', resolve);
    parentPort!.postMessage({ ready: true });
  });
  while (Date.now() < startAt) await new Promise((r) => setTimeout(r, 1));
  let runs = 0;
  const end = startAt + init.seconds * 1000;
  while (Date.now() < end) {
    await session.run(feeds);
    runs++;
  }
  parentPort!.postMessage({ runs, ms: Date.now() - startAt });
}

void main();
