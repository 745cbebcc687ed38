/**
 * Bare onnxruntime-node in a tight loop on a worker thread (no serving code at all): the baseline for
 * several model instances side by side. workerData: { model, threads, dims, seconds }. Posts the number
 * of runs completed.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';

interface LoopInit {
  readonly model: string;
  readonly threads: number;
  readonly dims: number[];
  readonly seconds: number;
  readonly startAt: number;
}

async function main(): Promise<void> {
  const init = workerData as LoopInit;
  const session = await ort.InferenceSession.create(init.model, { intraOpNumThreads: init.threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' });
  const size = init.dims.reduce((a, b) => a * b, 1);
  const data = Float32Array.from({ length: size }, (_, i) => Math.sin(i));
  const feeds = { input: new ort.Tensor('float32', data, init.dims) };
  for (let i = 0; i < 3; i++) await session.run(feeds);
  parentPort!.postMessage({ ready: true });
  while (Date.now() < init.startAt) await new Promise((r) => setTimeout(r, 1));
  let runs = 0;
  const end = init.startAt + init.seconds * 1000;
  while (Date.now() < end) {
    await session.run(feeds);
    runs++;
  }
  parentPort!.postMessage({ runs, ms: Date.now() - init.startAt });
}

void main();
