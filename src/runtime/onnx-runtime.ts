import { Worker } from 'node:worker_threads';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ClusterServingError } from '../errors';
import type { NamedTensors, Tensor } from '../tensor/tensor';
import type { BatchFeeds, GatheredInput, LoadedModel, ModelLoadOptions, ModelRuntime, TensorInfo } from './model-runtime';
import { concatRows } from '../operators/batch-tensors';
import { BufferPool } from './buffer-pool';
import type { FromWorker, ToWorker, WirePart, WireTensor, WorkerInit } from './worker-messages';
import { DTYPE_BYTES, elementCount } from '../tensor/tensor';

interface Pending {
  resolve(outputs: NamedTensors): void;
  reject(err: Error): void;
}

interface Instance {
  readonly worker: Worker;
  busy: boolean;
  readonly pending: Map<number, Pending>;
}

/** The worker entry: compiled JavaScript normally, the TypeScript source under ts-node. */
function workerEntry(): { file: string; execArgv: string[] } {
  const js = join(__dirname, 'onnx-worker.js');
  if (existsSync(js)) return { file: js, execArgv: [] };
  return { file: join(__dirname, 'onnx-worker.ts'), execArgv: ['--require', 'ts-node/register/transpile-only'] };
}

function toWire(name: string, t: Tensor): WireTensor {
  return { name, dtype: t.dtype, shape: t.shape, buffer: t.data.buffer, byteOffset: t.data.byteOffset, byteLength: t.data.byteLength };
}

function fromWire(t: WireTensor): Tensor {
  return { dtype: t.dtype, shape: t.shape, data: new Uint8Array(t.buffer, t.byteOffset, t.byteLength) };
}

/**
 * ONNX Runtime behind worker threads: one onnxruntime-node session per instance, each on its own
 * worker, created once. A batch goes to an idle instance (or the least loaded); its input buffers are
 * transferred, not copied, and so are the outputs coming back.
 */
class OnnxModel implements LoadedModel {
  private nextId = 1;
  private closed = false;
  private readonly pool = new BufferPool();

  constructor(
    private readonly instances: Instance[],
    readonly inputs: readonly TensorInfo[],
    readonly outputs: readonly TensorInfo[],
  ) {}

  get concurrency(): number {
    return this.instances.length;
  }

  /** Buffers this model's pool handed out, the only ones given back to it. */
  private readonly pooled = new WeakSet<SharedArrayBuffer>();

  allocateInput(bytes: number): Uint8Array {
    const view = this.pool.acquire(bytes);
    this.pooled.add(view.buffer as SharedArrayBuffer);
    return view;
  }

  /**
   * A gathered input crosses as the list of its parts when every part lies in shared memory and, if it
   * is copied as it is, at the alignment (mod 8) of its place in the batch: the worker copies (or
   * converts) them at memory speed. Otherwise it is joined here into a pooled buffer (small requests,
   * images decoded into ordinary arrays, odd offsets).
   */
  private wireGathered(name: string, input: GatheredInput, pooled: SharedArrayBuffer[]): WireTensor {
    const parts: WirePart[] = [];
    const itemBytes = DTYPE_BYTES[input.dtype];
    let at = 0;
    for (const p of input.parts) {
      const { buffer, byteOffset, byteLength } = p.data;
      const converted = p.dtype !== input.dtype;
      if (!(buffer instanceof SharedArrayBuffer) || (!converted && ((byteOffset - at) & 7) !== 0)) {
        const joined = concatRows(input.parts, (n) => this.allocateInput(n), { dtype: input.dtype, normalize: input.normalize });
        pooled.push(joined.data.buffer as SharedArrayBuffer);
        return toWire(name, joined);
      }
      parts.push({ buffer, byteOffset, byteLength, dtype: p.dtype, shape: p.shape });
      at += converted ? elementCount(p.shape) * itemBytes : byteLength;
    }
    return { name, dtype: input.dtype, shape: input.shape, buffer: parts[0]!.buffer, byteOffset: 0, byteLength: at, parts, normalize: input.normalize };
  }

  readonly gathers = true;

  run(feeds: BatchFeeds): Promise<NamedTensors> {
    if (this.closed) return Promise.reject(new ClusterServingError('CS_ERR_CLOSED', 'model is closed'));
    const instance = this.instances.find((i) => !i.busy) ?? this.instances.reduce((a, b) => (a.pending.size <= b.pending.size ? a : b));
    const id = this.nextId++;
    // Pooled shared buffers (allocateInput, and batches joined here) are read in place and go back to
    // the pool when the run ends; other buffers are copied by postMessage.
    const shared: SharedArrayBuffer[] = [];
    const wire = [...feeds].map(([name, t]) => ('kind' in t ? this.wireGathered(name, t, shared) : toWire(name, t)));
    for (const w of wire) if (w.buffer instanceof SharedArrayBuffer && this.pooled.has(w.buffer) && !shared.includes(w.buffer)) shared.push(w.buffer);
    const done = new Promise<NamedTensors>((resolve, reject) => {
      instance.pending.set(id, { resolve, reject });
      instance.busy = true;
      instance.worker.postMessage({ kind: 'run', id, feeds: wire } satisfies ToWorker);
    });
    const release = (): void => shared.forEach((b) => this.pool.release(b));
    done.then(release, release);
    return done;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.instances.map((i) => i.worker.terminate()));
    for (const i of this.instances) for (const p of i.pending.values()) p.reject(new ClusterServingError('CS_ERR_CLOSED', 'model closed while a batch was running'));
  }
}

function startInstance(options: ModelLoadOptions): Promise<{ instance: Instance; inputs: readonly TensorInfo[]; outputs: readonly TensorInfo[] }> {
  const { file, execArgv } = workerEntry();
  const worker = new Worker(file, { workerData: { path: options.path, threads: options.threads, spinning: options.spinning ?? false } satisfies WorkerInit, execArgv });
  const instance: Instance = { worker, busy: false, pending: new Map() };
  return new Promise((resolve, reject) => {
    const failAll = (err: Error): void => {
      for (const p of instance.pending.values()) p.reject(err);
      instance.pending.clear();
    };
    worker.on('message', (msg: FromWorker) => {
      switch (msg.kind) {
        case 'ready':
          resolve({ instance, inputs: msg.inputs, outputs: msg.outputs });
          return;
        case 'load-failed':
          void worker.terminate();
          reject(new ClusterServingError('CS_ERR_MODEL_LOAD', `cannot load model ${options.path}: ${msg.message}`));
          return;
        case 'done':
        case 'failed': {
          const p = instance.pending.get(msg.id);
          instance.pending.delete(msg.id);
          instance.busy = instance.pending.size > 0;
          if (!p) return;
          if (msg.kind === 'done') p.resolve(new Map(msg.outputs.map((o) => [o.name, fromWire(o)])));
          else p.reject(new ClusterServingError('CS_ERR_INFERENCE', msg.message));
          return;
        }
      }
    });
    worker.on('error', (err) => {
      reject(new ClusterServingError('CS_ERR_MODEL_LOAD', `inference worker failed: ${err.message}`, { cause: err }));
      failAll(new ClusterServingError('CS_ERR_INFERENCE', `inference worker failed: ${err.message}`, { cause: err }));
    });
    worker.on('exit', () => failAll(new ClusterServingError('CS_ERR_CLOSED', 'inference worker exited')));
  });
}

/** The ONNX Runtime implementation of the ModelRuntime seam. */
export const onnxRuntime: ModelRuntime = {
  async load(options: ModelLoadOptions): Promise<LoadedModel> {
    if (!existsSync(options.path)) throw new ClusterServingError('CS_ERR_MODEL_LOAD', `model file not found: ${options.path}`);
    const started = await Promise.allSettled(Array.from({ length: options.instances }, () => startInstance(options)));
    const ok = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed || ok.length === 0) {
      await Promise.all(ok.map((o) => o.instance.worker.terminate()));
      throw failed?.reason instanceof Error ? failed.reason : new ClusterServingError('CS_ERR_MODEL_LOAD', `cannot load model ${options.path}`);
    }
    const first = ok[0]!;
    return new OnnxModel(ok.map((o) => o.instance), first.inputs, first.outputs);
  },
};
