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
  let offset = 0;
  for (const p of parts) {
    data.set(p.data, offset);
    offset += p.data.byteLength;
  }
  return { dtype: first.dtype, shape: [rows, ...first.shape.slice(1)], data };
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
