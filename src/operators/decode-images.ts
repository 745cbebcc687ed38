import { mergeMap, of, type Observable, type OperatorFunction } from 'rxjs';
import type { TensorInfo } from '../runtime/model-runtime';
import { entryKey, errorResult, type EntryRef, type InferenceRequest, type InferenceResult } from '../tensor/records';
import type { Tensor } from '../tensor/tensor';
import { ClusterServingError, toClusterServingError } from '../errors';
import { imageToTensor, type ImageToTensorOptions } from './image-to-tensor';
import { castTo } from './decode-bigdl';

/** Images decoded at once by default: twice libuv's default pool (4), so the pool never waits for the event loop. */
export const DEFAULT_IMAGE_CONCURRENCY = 8;

/**
 * Reused float32 arrays for decoded images, held per request until its result exists. A 224 × 224 image
 * is 600 KB of float32: allocated fresh per image, that external memory made V8 run a full mark-compact
 * several times a second (measured on the image bench: 29 in 8 s, against 6 with this pool, and 7 % more
 * images/s). The owner of the graph calls {@link release} with a request's ref once its result is made
 * (every request gets exactly one), after which nothing reads the request's inputs.
 */
export class ImageBufferPool {
  private readonly free = new Map<number, Float32Array[]>();
  private readonly held = new Map<string, Float32Array[]>();

  /** @param maxFreePerLength arrays kept per length; more are left to the garbage collector. */
  constructor(private readonly maxFreePerLength = 256) {}

  /** An array of `length` floats, held for the request `ref` until {@link release}. */
  acquire(ref: EntryRef, length: number): Float32Array {
    const array = this.free.get(length)?.pop() ?? new Float32Array(length);
    const key = entryKey(ref);
    const list = this.held.get(key);
    if (list) list.push(array);
    else this.held.set(key, [array]);
    return array;
  }

  /** Takes back the arrays of the request `ref` (no-op when it holds none). */
  release(ref: EntryRef): void {
    const key = entryKey(ref);
    const list = this.held.get(key);
    if (!list) return;
    this.held.delete(key);
    for (const array of list) {
      const free = this.free.get(array.length) ?? [];
      if (free.length < this.maxFreePerLength) free.push(array);
      this.free.set(array.length, free);
    }
  }

  /** Requests holding arrays. */
  get requests(): number {
    return this.held.size;
  }
}

export interface DecodeImagesOptions {
  /** The model's declared inputs: a decoded image is cast to its input's dtype. */
  readonly modelInputs: readonly TensorInfo[];
  /** How an image becomes a tensor (size, crop, layout, channel order, scale, mean/std). */
  readonly image: ImageToTensorOptions;
  /** Requests whose images are being decoded at once. @default DEFAULT_IMAGE_CONCURRENCY */
  readonly concurrency?: number;
  /**
   * Decode into arrays of this pool; the caller must `release(ref)` each request once its result exists.
   * Without it, every image gets a fresh array.
   */
  readonly buffers?: ImageBufferPool;
  /** Called after each request's images are decoded (successfully or not), for metrics. */
  readonly onDecoded?: (images: number, ms: number) => void;
}

/**
 * The model input a request tensor will feed, the way checkInputs matches them: by name, or by position
 * when none of the request's names is a model input and the counts agree.
 */
function declaredInput(req: InferenceRequest, name: string, index: number, inputs: readonly TensorInfo[]): TensorInfo | undefined {
  const byName = inputs.find((i) => i.name === name);
  if (byName) return byName;
  const anyNamed = [...req.inputs.keys()].some((n) => inputs.some((i) => i.name === n));
  return !anyNamed && req.inputs.size === inputs.length ? inputs[index] : undefined;
}

/**
 * Whether a request tensor is an encoded image: dtype uint8 and rank 1 (the file's bytes), unless the
 * model input it feeds is itself a uint8 vector (then the bytes are that input's data).
 */
export function isEncodedImage(t: Tensor, declared: TensorInfo | undefined): boolean {
  if (t.dtype !== 'uint8' || t.shape.length !== 1) return false;
  return !(declared?.dtype === 'uint8' && declared.shape.length === 1);
}

/**
 * Decodes the images of native-protocol requests (`decode: { type: image }`), between decodeNative and
 * checkInputs: every request tensor of dtype uint8 and rank 1 holds an encoded JPEG, PNG or WebP file and
 * becomes a float tensor [1, 3, H, W] (NCHW) or [1, H, W, 3] (NHWC) with {@link imageToTensor}, cast to
 * the dtype of the model input it feeds; other tensors pass as they are.
 *
 * Decoding runs on libuv's thread pool (libvips), `concurrency` requests at a time, while batches run on
 * the model's worker threads: decode overlaps inference. Requests leave in the order their decode ends.
 * An image that cannot be decoded makes an error result (CS_ERR_BAD_REQUEST) for its request alone.
 * Results (earlier errors) and requests without images pass through at once.
 *
 * @example
 * entries.pipe(decodeNative({ maxRequestBytes }), decodeImages({ modelInputs: model.inputs, image: { width: 224, height: 224, layout: 'NCHW', channelOrder: 'RGB' } }), checkInputs(model.inputs))
 */
export function decodeImages(options: DecodeImagesOptions): OperatorFunction<InferenceRequest | InferenceResult, InferenceRequest | InferenceResult> {
  const concurrency = options.concurrency ?? DEFAULT_IMAGE_CONCURRENCY;
  const decode = async (req: InferenceRequest): Promise<InferenceRequest | InferenceResult> => {
    const started = performance.now();
    let images = 0;
    const { buffers } = options;
    const allocate = buffers ? (length: number) => buffers.acquire(req.ref, length) : undefined;
    // Every image settles before the request goes on, so no decode still writes into a pooled array
    // once the request has failed (and its arrays may be given back).
    const decoded = await Promise.allSettled(
      [...req.inputs].map(async ([name, t], index): Promise<[string, Tensor]> => {
        const declared = declaredInput(req, name, index, options.modelInputs);
        if (!isEncodedImage(t, declared)) return [name, t];
        images++;
        try {
          return [name, castTo(await imageToTensor(t.data, options.image, allocate), declared?.dtype)];
        } catch (err) {
          const e = toClusterServingError(err, 'CS_ERR_BAD_REQUEST');
          throw new ClusterServingError(e.code, `input ${name}: ${e.message}`, { cause: err });
        }
      }),
    );
    options.onDecoded?.(images, performance.now() - started);
    const failed = decoded.find((d): d is PromiseRejectedResult => d.status === 'rejected');
    if (failed) {
      buffers?.release(req.ref);
      const e = toClusterServingError(failed.reason, 'CS_ERR_BAD_REQUEST');
      return errorResult(req, { code: e.code, message: e.message });
    }
    return { ...req, inputs: new Map(decoded.map((d) => (d as PromiseFulfilledResult<[string, Tensor]>).value)) };
  };
  return mergeMap((x): Observable<InferenceRequest | InferenceResult> | Promise<InferenceRequest | InferenceResult> => {
    if (x.kind === 'result') return of(x);
    let index = 0;
    for (const [name, t] of x.inputs) {
      if (t.dtype === 'uint8' && t.shape.length === 1 && isEncodedImage(t, declaredInput(x, name, index, options.modelInputs))) return decode(x);
      index++;
    }
    return of(x);
  }, concurrency);
}
