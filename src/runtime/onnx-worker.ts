/**
 * Entry point of one inference worker thread: it owns one onnxruntime-node session and runs the batches
 * the pool sends it. `session.run` blocks the thread for the whole inference, which is why it lives here
 * and not on the event loop that reads and writes Redis.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { isDType, type DType } from '../tensor/tensor';
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

function toOrt(t: WireTensor): ort.Tensor {
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
    });
  } catch (err) {
    port!.postMessage({ kind: 'load-failed', message: err instanceof Error ? err.message : String(err) } satisfies FromWorker);
    return;
  }
  port!.postMessage({ kind: 'ready', inputs: info(session.inputMetadata), outputs: info(session.outputMetadata) } satisfies FromWorker);
  port!.on('message', (msg: ToWorker) => {
    void (async () => {
      try {
        const feeds: Record<string, ort.Tensor> = {};
        for (const f of msg.feeds) feeds[f.name] = toOrt(f);
        const result = await session.run(feeds);
        const outputs = Object.entries(result).map(([name, t]) => fromOrt(name, t));
        // Output buffers are fresh per run: transfer them instead of copying.
        const transfer = [...new Set(outputs.map((o) => o.buffer))];
        port!.postMessage({ kind: 'done', id: msg.id, outputs } satisfies FromWorker, transfer);
      } catch (err) {
        port!.postMessage({ kind: 'failed', id: msg.id, message: err instanceof Error ? err.message : String(err) } satisfies FromWorker);
      }
    })();
  });
}

void main();
