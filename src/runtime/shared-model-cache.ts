import { FileHashCache } from './file-hash-cache';
import { ClusterServingError } from '../errors';
import type { NamedTensors } from '../tensor/tensor';
import type { BatchFeeds, LoadedModel, ModelLoadOptions, ModelRuntime, TensorInfo } from './model-runtime';
import { onnxRuntime } from './onnx-runtime';

interface Entry {
  readonly model: Promise<{ model: LoadedModel; slots: RunSlots }>;
  /** Handles given out and not closed yet. */
  users: number;
}

/**
 * At most `limit` runs at once across every user of a shared model, the rest waiting in arrival order.
 * Each user's infer operator keeps up to `concurrency` runs going, so two users would otherwise send an
 * instance a second batch while its first is running; a free slot always finds an idle instance.
 */
class RunSlots {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}

/**
 * One user's view of a shared model: runs go to the shared instances; `close()` gives this user's
 * reference back (the model itself closes with its last user). Runs after close are refused.
 */
class SharedModelHandle implements LoadedModel {
  private closing: Promise<void> | undefined;

  constructor(
    private readonly model: LoadedModel,
    private readonly slots: RunSlots,
    private readonly release: () => Promise<void>,
  ) {}

  get inputs(): readonly TensorInfo[] {
    return this.model.inputs;
  }

  get outputs(): readonly TensorInfo[] {
    return this.model.outputs;
  }

  get concurrency(): number {
    return this.model.concurrency;
  }

  allocateInput(bytes: number): Uint8Array {
    return this.model.allocateInput(bytes);
  }

  get gathers(): boolean {
    return this.model.gathers === true;
  }

  run(feeds: BatchFeeds): Promise<NamedTensors> {
    if (this.closing) return Promise.reject(new ClusterServingError('CS_ERR_CLOSED', 'model is closed'));
    return this.slots.run(() => this.model.run(feeds));
  }

  close(): Promise<void> {
    this.closing ??= this.release();
    return this.closing;
  }
}

/**
 * A ModelRuntime that loads each model once per process and shares it: two subtasks (of one job or of
 * several) whose model files have the same content (SHA-256) and the same `threads`, `instances` and
 * `spinning` options get one set of worker threads and sessions instead of one each. Models are
 * reference-counted: each `load` returns a handle, and the model is closed when the last handle is.
 * A failed load is not kept (the next `load` tries again). A file that cannot be hashed is loaded
 * unshared, so the runtime reports why it cannot be read.
 *
 * Shared instances serve every user's batches: at most `concurrency` batches run at once across all
 * users (one per instance); the others wait in arrival order.
 *
 * @example
 * const models = new SharedModelCache(onnxRuntime);
 * const a = await models.load({ path, threads: 2, instances: 1 });
 * const b = await models.load({ path, threads: 2, instances: 1 }); // same sessions as a
 * await a.close(); // b keeps serving
 * await b.close(); // the worker threads end
 */
export class SharedModelCache implements ModelRuntime {
  private readonly entries = new Map<string, Entry>();
  /** Model files' hashes, computed once per file version. */
  private readonly hashes = new FileHashCache();

  constructor(private readonly runtime: ModelRuntime = onnxRuntime) {}

  /** Models loaded and in use. */
  get size(): number {
    return this.entries.size;
  }

  /** Handles in use of the model that `options` would load (0 when none). */
  async users(options: ModelLoadOptions): Promise<number> {
    const key = await this.keyOf(options);
    return key === undefined ? 0 : (this.entries.get(key)?.users ?? 0);
  }

  async load(options: ModelLoadOptions): Promise<LoadedModel> {
    const key = await this.keyOf(options);
    if (key === undefined) return this.runtime.load(options);
    let entry = this.entries.get(key);
    if (!entry) {
      const created: Entry = { model: this.runtime.load(options).then((model) => ({ model, slots: new RunSlots(model.concurrency) })), users: 0 };
      created.model.catch(() => {
        if (this.entries.get(key) === created) this.entries.delete(key);
      });
      this.entries.set(key, created);
      entry = created;
    }
    entry.users++;
    let model: LoadedModel;
    let slots: RunSlots;
    try {
      ({ model, slots } = await entry.model);
    } catch (err) {
      entry.users--;
      throw err;
    }
    const shared = entry;
    return new SharedModelHandle(model, slots, async () => {
      shared.users--;
      if (shared.users > 0) return;
      if (this.entries.get(key) === shared) this.entries.delete(key);
      await model.close();
    });
  }

  private async keyOf(options: ModelLoadOptions): Promise<string | undefined> {
    const sha256 = await this.hashes.hashOf(options.path);
    if (sha256 === undefined) return undefined;
    return `${sha256}:${options.threads}:${options.instances}:${options.spinning === true}`;
  }

}

/** The process's shared ONNX Runtime models: what a SubtaskRunner loads with unless given another runtime. */
export const sharedOnnxModels = new SharedModelCache(onnxRuntime);
