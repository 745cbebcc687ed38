/**
 * The image section of `npm run bench` (SPEC §8): JPEG 224×224 → decode → normalise → CNN, served end to
 * end vs the same decode + inference in a tight loop in one process (the best of four schedules).
 */
import { Worker } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { imageToTensor, type ImageToTensorOptions } from '../../src/operators/image-to-tensor';
import { SECONDS } from './bench-support';

/** The image bench's preprocessing: torchvision's ImageNet normalisation of a 224 × 224 RGB image, NCHW. */
export const IMAGE_DECODE: ImageToTensorOptions = { width: 224, height: 224, layout: 'NCHW', channelOrder: 'RGB', scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
/** Images decoded at once: the image decode's default concurrency, in the bare loops too. */
export const IMAGE_CONCURRENCY = 8;

/** `n` different photo-like 224 × 224 JPEGs (quality 90): smooth gradients, a disc and fine texture. */
export async function benchJpegs(n: number): Promise<Buffer[]> {
  return Promise.all(
    Array.from({ length: n }, (_, k) => {
      const w = 224;
      const px = Buffer.alloc(w * w * 3);
      for (let y = 0; y < w; y++) {
        for (let x = 0; x < w; x++) {
          const o = (y * w + x) * 3;
          const disc = (x - 60 - 7 * k) ** 2 + (y - 112) ** 2 < 2500;
          px[o] = disc ? 220 : (x + k * 13) % 256;
          px[o + 1] = disc ? 30 : (y * 255) / w;
          px[o + 2] = 128 + 60 * Math.sin((x + 2 * y) / (3 + k)) + 30 * Math.sin(x * y * 0.01 + k);
        }
      }
      return sharp(px, { raw: { width: w, height: w, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
    }),
  );
}

/**
 * Decodes `jpegs` (IMAGE_CONCURRENCY at a time) straight into consecutive [1, 3, 224, 224] slices of
 * `into` (imageToTensor's `allocate`): no per-image array, no copy into the batch.
 */
async function decodeBatchInto(jpegs: readonly Buffer[], into: Float32Array): Promise<void> {
  const per = 3 * 224 * 224;
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(IMAGE_CONCURRENCY, jpegs.length) }, async () => {
      for (let i = next++; i < jpegs.length; i = next++) await imageToTensor(jpegs[i]!, IMAGE_DECODE, (n) => into.subarray(i * per, i * per + n));
    }),
  );
}

const ORT_OPTIONS = (threads: number): ort.InferenceSession.SessionOptions => ({
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
  // As the served workers run (D-004): spinning intra-op threads would take the CPU the decode needs.
  extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
});

/** An onnxruntime-node session on a worker thread of this process; `run` transfers the batch there and back. */
function bareWorkerSession(model: string, threads: number): Promise<{ run(data: Float32Array, dims: number[]): Promise<Float32Array>; close(): Promise<number> }> {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const ort = require(workerData.ort);
    ort.InferenceSession.create(workerData.model, workerData.options).then((session) => {
      parentPort.postMessage('ready');
      parentPort.on('message', async ({ buffer, dims }) => {
        await session.run({ input: new ort.Tensor('float32', new Float32Array(buffer), dims) });
        parentPort.postMessage(buffer, [buffer]);
      });
    });`;
  const worker = new Worker(code, { eval: true, workerData: { ort: require.resolve('onnxruntime-node'), model, options: ORT_OPTIONS(threads) } });
  return new Promise((resolve, reject) => {
    worker.once('error', reject);
    worker.once('message', () =>
      resolve({
        run: (data, dims) =>
          new Promise((done) => {
            worker.once('message', (buffer: ArrayBuffer) => done(new Float32Array(buffer)));
            worker.postMessage({ buffer: data.buffer, dims }, [data.buffer as ArrayBuffer]);
          }),
        close: () => worker.terminate(),
      }),
    );
  });
}

export interface ImageBare {
  /** Decode alone (batches of `batch`, IMAGE_CONCURRENCY at a time), ms per image. */
  readonly decodeMs: number;
  /** Inference alone at `batch`, ms per image. */
  readonly inferMs: number;
  /** Images/s of the best schedule: the overlapped loops, two single-thread sessions, or taking turns. */
  readonly best: number;
  readonly mainThread: number;
  readonly workerThread: number;
  /** Two sessions of `threads / 2` threads on two worker threads, each decoding its next batch while it runs. */
  readonly twoWorkers: number;
  /** Images/s taking turns: 1000 / (decodeMs + inferMs). */
  readonly serial: number;
}

/**
 * The in-process baseline of the image figure (SPEC §8: "the same decode + inference in a tight loop in
 * one process"), with every advantage we could give it: the same imageToTensor, batch size, threads and
 * session options, and the next batch decoded while the current one runs. Two ways, the better counts:
 * (a) the session on the main thread: the next batch's decode is started (libvips on libuv's pool) before
 *     `session.run` blocks the thread, so only the byte → float pass waits for inference;
 * (b) the session on a worker thread (as served): decode and inference fully in parallel, batches
 *     transferred, not copied;
 * (c) taking turns, from decode alone and inference alone, each timed: their sum per image is the serial
 *     cost;
 * (d) two sessions of half the threads on two worker threads, each decoding ahead as in (b): the layout
 *     of a served job with 2 instances × 1 thread.
 * Runs for about 3/4 × CS_BENCH_SECONDS.
 */
export async function imageBareThroughput(model: string, jpegs: readonly Buffer[], batch: number, threads: number): Promise<ImageBare> {
  const per = 3 * 224 * 224;
  const dims = [batch, 3, 224, 224];
  const pick = (k: number): Buffer[] => Array.from({ length: batch }, (_, i) => jpegs[(k * batch + i) % jpegs.length]!);
  const loop = async (seconds: number, step: (k: number) => Promise<void>): Promise<number> => {
    for (let k = 0; k < 3; k++) await step(k); // warm-up
    let k = 0;
    const start = performance.now();
    while (performance.now() - start < seconds * 1000) await step(k++);
    return (k * batch) / ((performance.now() - start) / 1000);
  };
  const short = Math.max(1, SECONDS / 8);
  const half = Math.max(1, SECONDS / 4);
  const scratch = new Float32Array(batch * per);
  const decodeRate = await loop(short, (k) => decodeBatchInto(pick(k), scratch));

  const session = await ort.InferenceSession.create(model, ORT_OPTIONS(threads));
  await decodeBatchInto(pick(0), scratch);
  const feeds = { input: new ort.Tensor('float32', scratch, dims) };
  const inferRate = await loop(short, async () => {
    await session.run(feeds);
  });
  // (a) main thread: two buffers, one decoding while the other runs.
  const buffers = [new Float32Array(batch * per), new Float32Array(batch * per)];
  let decoding = decodeBatchInto(pick(0), buffers[0]!);
  const mainThread = await loop(half, async (k) => {
    await decoding;
    decoding = decodeBatchInto(pick(k + 1), buffers[(k + 1) % 2]!);
    await session.run({ input: new ort.Tensor('float32', buffers[k % 2]!, dims) });
  });
  await decoding;
  await session.release();
  // (b) worker thread: the batch goes to the worker and comes back while the next one decodes.
  const worker = await bareWorkerSession(model, threads);
  const first = new Float32Array(batch * per);
  let spare: Float32Array = new Float32Array(batch * per);
  let ready: Promise<Float32Array> = decodeBatchInto(pick(0), first).then(() => first);
  const workerThread = await loop(half, async (k) => {
    const current = await ready;
    const running = worker.run(current, dims); // `current` is transferred: detached until it comes back
    const target = spare;
    ready = decodeBatchInto(pick(k + 1), target).then(() => target);
    spare = await running;
  });
  await ready;
  await worker.close();
  // (d) two half-thread sessions, two loops like (b) side by side.
  const pair = await Promise.all([0, 1].map(() => bareWorkerSession(model, Math.max(1, Math.floor(threads / 2)))));
  const rates = await Promise.all(
    pair.map(async (w, side) => {
      const own = [new Float32Array(batch * per), new Float32Array(batch * per)];
      let spareOwn: Float32Array = own[1]!;
      let readyOwn: Promise<Float32Array> = decodeBatchInto(pick(side), own[0]!).then(() => own[0]!);
      return loop(half, async (k) => {
        const current = await readyOwn;
        const running = w.run(current, dims);
        const target = spareOwn;
        readyOwn = decodeBatchInto(pick(2 * k + side + 2), target).then(() => target);
        spareOwn = await running;
      }).finally(() => readyOwn);
    }),
  );
  await Promise.all(pair.map((w) => w.close()));
  const twoWorkers = rates[0]! + rates[1]!;
  // (c) taking turns (decode a batch, then run it): on a machine whose cores inference alone fills,
  // overlapping only makes decode and inference compete, and this can be the best of the three.
  const serial = 1000 / (1000 / decodeRate + 1000 / inferRate);
  return { decodeMs: 1000 / decodeRate, inferMs: 1000 / inferRate, best: Math.max(mainThread, workerThread, twoWorkers, serial), mainThread, workerThread, twoWorkers, serial };
}

/** What the image figure says about decode and inference (printed, and in the JSON line). */
export interface ImageOverlap {
  readonly decodeMsPerImage: number;
  readonly inferMsPerImage: number;
  readonly serialImagesPerSecond: number;
  readonly bareMainThread: number;
  readonly bareWorkerThread: number;
  readonly bareTwoWorkers: number;
  /** (decode + infer − wall) / decode per image, served (per layout) and in the best bare loop. */
  readonly hiddenServed: Readonly<Record<string, number>>;
  readonly hiddenBare: number;
  readonly uvThreadpoolSize: string;
}

/** Share of decode time hidden behind inference: (decode + infer − wall) / decode, per image. */
export function hiddenShare(bare: ImageBare, imagesPerSecond: number): number {
  return (bare.decodeMs + bare.inferMs - 1000 / imagesPerSecond) / bare.decodeMs;
}
