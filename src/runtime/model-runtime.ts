import type { DType, NamedTensors, Tensor } from '../tensor/tensor';
import type { Normalization } from '../tensor/wire-dtypes';

/** One input or output of a model as declared in its file. Symbolic dimensions are strings. */
export interface TensorInfo {
  readonly name: string;
  /** The model's element type; `undefined` when the runtime reports one we do not serve. */
  readonly dtype: DType | undefined;
  readonly shape: readonly (number | string)[];
}

/**
 * A loaded model, ready to run batches. Implementations must not block the event loop while a batch
 * runs (onnxruntime-node's `run` is synchronous native work: it belongs on a worker thread), and may run
 * up to `concurrency` batches at once (one per model instance).
 */
export interface LoadedModel {
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  /** How many batches can run at the same time. */
  readonly concurrency: number;
  /**
   * A buffer to build a batch input in: feeds whose data lies in such a buffer reach the runtime
   * without a copy and the buffer is reused afterwards.
   */
  allocateInput(bytes: number): Uint8Array;
  /**
   * Whether `run` takes {@link GatheredInput} feeds: the requests' own tensors, joined where the model
   * runs (an inference worker copies them into its input buffer), not on the event loop.
   */
  readonly gathers?: boolean;
  /** Runs one batch: feeds by input name, outputs by output name. The feeds' buffers may be transferred (unusable afterwards). */
  run(feeds: BatchFeeds): Promise<NamedTensors>;
  close(): Promise<void>;
}

/**
 * A batch input given as its requests' tensors in row order (same trailing dimensions), to be joined as
 * `dtype`: parts of a compact dtype (float16, uint8 for a float32 input) are converted on the way.
 */
export interface GatheredInput {
  readonly kind: 'gathered';
  readonly dtype: DType;
  /** uint8 parts of a float32 input: `(x · scale − mean[c]) / std[c]`; cast as they are when absent. */
  readonly normalize?: Normalization | undefined;
  /** The batch's shape: the parts' rows summed, then their trailing dimensions. */
  readonly shape: readonly number[];
  readonly parts: readonly Tensor[];
}

/** A batch's feeds by input name: joined tensors, or (for models that gather) the parts to join. */
export type BatchFeeds = ReadonlyMap<string, Tensor | GatheredInput>;

export interface ModelLoadOptions {
  /** Absolute path of the model file. */
  readonly path: string;
  /** Intra-op threads per instance. */
  readonly threads: number;
  /** Instances (sessions, each on its own worker thread). */
  readonly instances: number;
  /** Let the runtime's threads spin-wait between runs. @default false */
  readonly spinning?: boolean;
}

/** The seam between the infer operator and a model runtime (SPEC §1: ONNX Runtime today). */
export interface ModelRuntime {
  load(options: ModelLoadOptions): Promise<LoadedModel>;
}
