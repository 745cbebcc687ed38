/**
 * Entry point of one inference worker thread: it owns one onnxruntime-node session and runs the batches
 * the pool sends it. `session.run` blocks the thread for the whole inference, which is why it lives here
 * and not on the event loop that reads and writes Redis.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { elementCount, isDType, type DType } from '../tensor/tensor';
import { writeFloat32 } from '../tensor/wire-dtypes';
import type { TensorInfo } from './model-runtime';
import type { FromWorker, ToWorker, WireTensor, WorkerInit } from './worker-messages';

const port = parentPort;
if (!port) throw new Error('onnx-worker must run on a worker thread');
const init = workerData as WorkerInit;

function info(meta: readonly ort.InferenceSession.ValueMetadata[]): TensorInfo[] {
  return meta.map((m) =>
    m.isTensor ? { name: m.name, dtype: isDType(m.type) ? m.type : undefined, shape: [...m.shape] } : { name: m.name, dtype: undefined, shape: [] },
  );
}

/**
 * Worker-owned input buffers, one per input name, grown as needed. onnxruntime-node refuses typed
 * arrays over SharedArrayBuffer ("Invalid argument"), so a shared batch is copied once into one of
 * these (a memcpy, far cheaper than the garbage collection a fresh buffer per batch cost).
 */
const ownInputs = new Map<string, ArrayBuffer>();

function ownCopy(t: WireTensor): WireTensor {
  if (!t.parts && !(t.buffer instanceof SharedArrayBuffer)) return t;
  let own = ownInputs.get(t.name);
  if (!own || own.byteLength < t.byteLength) {
    own = new ArrayBuffer(Math.max(t.byteLength, 2 * (own?.byteLength ?? 0)));
    ownInputs.set(t.name, own);
  }
  if (t.parts) {
    // A gathered batch: the requests' payload bytes, joined (and compact dtypes converted) here rather
    // than on the event loop.
    let at = 0;
    for (const p of t.parts) {
      const source = new Uint8Array(p.buffer, p.byteOffset, p.byteLength);
      if (p.dtype === t.dtype) {
        new Uint8Array(own, at, p.byteLength).set(source);
        at += p.byteLength;
      } else {
        const count = elementCount(p.shape);
        writeFloat32(new Float32Array(own, at, count), { dtype: p.dtype, shape: p.shape, data: source }, t.normalize);
        at += count * 4;
      }
    }
  } else new Uint8Array(own, 0, t.byteLength).set(new Uint8Array(t.buffer, t.byteOffset, t.byteLength));
  return { name: t.name, dtype: t.dtype, shape: t.shape, buffer: own, byteOffset: 0, byteLength: t.byteLength };
}

function toOrt(shared: WireTensor): ort.Tensor {
  const t = ownCopy(shared);
  const { buffer, byteOffset, byteLength } = t;
  switch (t.dtype) {
    case 'float32':
      return new ort.Tensor('float32', new Float32Array(buffer, byteOffset, byteLength / 4), t.shape);
    case 'float64':
      return new ort.Tensor('float64', new Float64Array(buffer, byteOffset, byteLength / 8), t.shape);
    case 'int32':
      return new ort.Tensor('int32', new Int32Array(buffer, byteOffset, byteLength / 4), t.shape);
    case 'int64':
      return new ort.Tensor('int64', new BigInt64Array(buffer, byteOffset, byteLength / 8), t.shape);
    case 'uint8':
      return new ort.Tensor('uint8', new Uint8Array(buffer, byteOffset, byteLength), t.shape);
    case 'bool':
      return new ort.Tensor('bool', new Uint8Array(buffer, byteOffset, byteLength), t.shape);
    case 'float16':
      return new ort.Tensor('float16', new Uint16Array(buffer, byteOffset, byteLength / 2), t.shape);
  }
}

function fromOrt(name: string, t: ort.Tensor): WireTensor {
  if (!isDType(t.type)) throw new Error(`output ${name} has dtype ${t.type}, which is not served`);
  const data = t.data as ArrayBufferView;
  return { name, dtype: t.type as DType, shape: [...t.dims], buffer: data.buffer as ArrayBuffer, byteOffset: data.byteOffset, byteLength: data.byteLength };
}

async function main(): Promise<void> {
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(init.path, {
      intraOpNumThreads: init.threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      // ORT's intra-op threads spin after each run by default. Back to back that costs nothing, but a
      // server interleaves runs with I/O: spinning threads then burned a core the event loop, Redis
      // and the clients needed (19 ms of CPU per 4 ms CNN inference, measured). Sleep instead.
      extra: { session: { intra_op: { allow_spinning: init.spinning ? '1' : '0' }, inter_op: { allow_spinning: init.spinning ? '1' : '0' } } },
    });
  } catch (err) {
    port!.postMessage({ kind: 'load-failed', message: err instanceof Error ? err.message : String(err) } satisfies FromWorker);
    return;
  }
  port!.postMessage({ kind: 'ready', inputs: info(session.inputMetadata), outputs: info(session.outputMetadata) } satisfies FromWorker);
  // One run at a time, in arrival order: a batch is copied into the worker's own input buffers (ownCopy),
  // so a second batch must not be copied in before the run reading them has finished. (session.run
  // returns before it reads its feeds, and this worker's message handler would otherwise run again.)
  let previous: Promise<void> = Promise.resolve();
  port!.on('message', (msg: ToWorker) => {
    previous = previous.then(async () => {
      try {
        const feeds: Record<string, ort.Tensor> = {};
        for (const f of msg.feeds) feeds[f.name] = toOrt(f);
        const result = await session.run(feeds);
        const outputs = Object.entries(result).map(([name, t]) => fromOrt(name, t));
        // Output buffers are fresh per run: transfer them instead of copying.
        const transfer = [...new Set(outputs.map((o) => o.buffer))].filter((b): b is ArrayBuffer => b instanceof ArrayBuffer);
        port!.postMessage({ kind: 'done', id: msg.id, outputs } satisfies FromWorker, transfer);
      } catch (err) {
        port!.postMessage({ kind: 'failed', id: msg.id, message: err instanceof Error ? err.message : String(err) } satisfies FromWorker);
      }
    });
  });
}

void main();
