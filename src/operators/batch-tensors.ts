import { DTYPE_BYTES, elementCount, type DType, type Tensor } from '../tensor/tensor';
import { writeFloat32, type Normalization } from '../tensor/wire-dtypes';

/** What a batch input is built as: the model input's dtype, and how uint8 parts are normalised on the way. */
export interface ConcatTarget {
  /** The batch's dtype; parts of a compact dtype (float16, uint8 for float32) are converted into it. */
  readonly dtype: DType;
  /** uint8 parts of a float32 batch: `(x · scale − mean[c]) / std[c]`; cast as they are when absent. */
  readonly normalize?: Normalization | undefined;
}

/**
 * Concatenates tensors along the leading (batch) dimension into one buffer from `allocate` (a shared,
 * pooled buffer in the infer operator): the single copy a request's bytes make on their way to the model.
 * With a `target`, each part is written as `target.dtype`: parts already of that dtype are copied, float16
 * and uint8 parts of a float32 batch are converted straight into the buffer (no array per request).
 * Without one, every part must have the first part's dtype.
 * @throws Error when a part cannot be written as the batch's dtype.
 */
export function concatRows(parts: readonly Tensor[], allocate: (bytes: number) => Uint8Array = (n) => new Uint8Array(n), target?: ConcatTarget): Tensor {
  const first = parts[0];
  if (!first) throw new Error('concatRows of nothing');
  const dtype = target?.dtype ?? first.dtype;
  let rows = 0;
  let elements = 0;
  for (const p of parts) {
    rows += p.shape[0] ?? 1;
    elements += elementCount(p.shape);
  }
  const data = allocate(elements * DTYPE_BYTES[dtype]);
  const shared = data.buffer instanceof SharedArrayBuffer;
  let offset = 0;
  for (const p of parts) {
    const count = elementCount(p.shape);
    if (p.dtype === dtype) copyInto(data, offset, p.data, shared);
    else if (dtype === 'float32') writeFloat32(floatsAt(data, offset, count), p, target?.normalize);
    else throw new Error(`a ${p.dtype} tensor cannot be part of a batch of ${dtype}`);
    offset += count * DTYPE_BYTES[dtype];
  }
  return { dtype, shape: [rows, ...first.shape.slice(1)], data };
}

/**
 * A Float32Array of `count` floats at `offset` of `data`. Batch buffers start aligned and every earlier part
 * was float32, so this is a view; an unaligned one would need a copy, which callers never cause.
 */
function floatsAt(data: Uint8Array, offset: number, count: number): Float32Array {
  const at = data.byteOffset + offset;
  if (at % 4 !== 0) throw new Error('concatRows: a float32 batch buffer must be 4-byte aligned');
  return new Float32Array(data.buffer, at, count);
}

/** Reused by copyInto: an ordinary ArrayBuffer at least as large as the largest part copied through it. */
let staging = new Uint8Array(0);

/**
 * `target.set(source, offset)`, fast for shared targets too. V8 copies into a SharedArrayBuffer with
 * relaxed atomic stores, word by word when source and target addresses agree modulo 8 and byte by byte
 * otherwise: 10× slower (measured 2.4 vs 27 GB/s), and a request's tensor sits at any offset of its
 * payload. Such a copy goes through an ordinary buffer placed at the target's alignment instead: two
 * fast copies (measured a third of the TaskManager's event loop on the CNN tensor bench before).
 */
function copyInto(target: Uint8Array, offset: number, source: Uint8Array, shared: boolean): void {
  const at = target.byteOffset + offset;
  if (!shared || source.byteLength < 4096 || ((source.byteOffset - at) & 7) === 0) {
    target.set(source, offset);
    return;
  }
  const shift = at & 7;
  if (staging.byteLength < source.byteLength + shift) staging = new Uint8Array(Math.max(source.byteLength + shift, 2 * staging.byteLength));
  const aligned = staging.subarray(shift, shift + source.byteLength);
  aligned.set(source);
  target.set(aligned, offset);
}

/**
 * Splits a batched output back into per-request tensors by row counts, as views of the same buffer
 * (no copy). Returns undefined when the output's leading dimension does not add up to the rows.
 */
export function splitRows(t: Tensor, rows: readonly number[]): Tensor[] | undefined {
  const total = rows.reduce((a, b) => a + b, 0);
  if (t.shape.length === 0 || t.shape[0] !== total) return undefined;
  const rowBytes = elementCount(t.shape.slice(1)) * DTYPE_BYTES[t.dtype];
  const out: Tensor[] = [];
  let offset = 0;
  for (const r of rows) {
    out.push({ dtype: t.dtype, shape: [r, ...t.shape.slice(1)], data: t.data.subarray(offset, offset + r * rowBytes) });
    offset += r * rowBytes;
  }
  return out;
}
