import type { DType } from '../tensor/tensor';
import type { Normalization } from '../tensor/wire-dtypes';
import type { TensorInfo } from './model-runtime';

/** A tensor crossing the worker boundary: its bytes travel in the transfer list, not copied. */
export interface WireTensor {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** Outputs: a transferred ArrayBuffer. Inputs: a pooled SharedArrayBuffer (or a copied ArrayBuffer). */
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  readonly byteOffset: number;
  readonly byteLength: number;
  /**
   * Inputs only: the batch as its requests' bytes in shared memory, in order, to be written one after the
   * other into the worker's input buffer as `dtype` (then `buffer`/`byteOffset` are unused and
   * `byteLength` is the batch's size as `dtype`). A part of another dtype (float16, uint8 for float32) is
   * converted, uint8 normalised by `normalize` when given.
   */
  readonly parts?: readonly WirePart[];
  readonly normalize?: Normalization | undefined;
}

/** One request's tensor bytes in shared memory, as sent (dtype and shape of the request's tensor). */
export interface WirePart {
  readonly buffer: SharedArrayBuffer;
  readonly byteOffset: number;
  readonly byteLength: number;
  readonly dtype: DType;
  readonly shape: readonly number[];
}

/** Messages from the pool to an inference worker. */
export type ToWorker =
  | { readonly kind: 'run'; readonly id: number; readonly feeds: readonly WireTensor[] };

/** Messages from an inference worker to the pool. */
export type FromWorker =
  | { readonly kind: 'ready'; readonly inputs: readonly TensorInfo[]; readonly outputs: readonly TensorInfo[] }
  | { readonly kind: 'load-failed'; readonly message: string }
  | { readonly kind: 'done'; readonly id: number; readonly outputs: readonly WireTensor[] }
  | { readonly kind: 'failed'; readonly id: number; readonly message: string };

/** Data handed to each inference worker at start. */
export interface WorkerInit {
  readonly path: string;
  readonly threads: number;
  /** Let ORT's thread pool spin between runs (faster back to back, steals CPU from I/O). */
  readonly spinning: boolean;
}
