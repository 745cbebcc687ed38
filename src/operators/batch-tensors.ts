import { DTYPE_BYTES, elementCount, type Tensor } from '../tensor/tensor';

/**
 * Concatenates tensors along the leading (batch) dimension into one buffer from `allocate` (a shared,
 * pooled buffer in the infer operator): the single copy a request's bytes make on their way to the model.
 */
export function concatRows(parts: readonly Tensor[], allocate: (bytes: number) => Uint8Array = (n) => new Uint8Array(n)): Tensor {
  const first = parts[0];
  if (!first) throw new Error('concatRows of nothing');
  let rows = 0;
  let bytes = 0;
  for (const p of parts) {
    rows += p.shape[0] ?? 1;
    bytes += p.data.byteLength;
  }
  const data = allocate(bytes);
  const shared = data.buffer instanceof SharedArrayBuffer;
  let offset = 0;
  for (const p of parts) {
    copyInto(data, offset, p.data, shared);
    offset += p.data.byteLength;
  }
  return { dtype: first.dtype, shape: [rows, ...first.shape.slice(1)], data };
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
