import type { DType } from '../tensor/tensor';
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
   * Inputs only: the batch as its requests' bytes in shared memory, in order, to be copied one after
   * the other into the worker's input buffer (then `buffer`/`byteOffset` are unused, `byteLength` is the sum).
   */
  readonly parts?: readonly { readonly buffer: SharedArrayBuffer; readonly byteOffset: number; readonly byteLength: number }[];
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
