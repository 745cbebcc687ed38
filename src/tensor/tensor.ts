/** Element types a request tensor may carry (the native protocol's `DType` enum). */
export const DTYPES = ['float32', 'float64', 'int32', 'int64', 'uint8', 'bool'] as const;
export type DType = (typeof DTYPES)[number];

export const DTYPE_BYTES: Readonly<Record<DType, number>> = {
  float32: 4,
  float64: 8,
  int32: 4,
  int64: 8,
  uint8: 1,
  bool: 1,
};

export type TypedArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

/**
 * A dense tensor as it travels through the pipeline: raw little-endian bytes plus dtype and shape.
 * Keeping bytes (not typed arrays) lets decode, batch concatenation and result encoding copy memory
 * at most once, with no alignment requirement on the request buffer.
 */
export interface Tensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: Uint8Array;
}

/** Named tensors, in the order the client sent them (Map keeps insertion order). */
export type NamedTensors = ReadonlyMap<string, Tensor>;

export function isDType(value: string): value is DType {
  return (DTYPES as readonly string[]).includes(value);
}

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** A tensor whose data is viewed as the typed array of its dtype (copies only when unaligned). */
export function toTypedArray(t: Tensor): TypedArray {
  const bytes = DTYPE_BYTES[t.dtype];
  let buf = t.data;
  if (bytes > 1 && buf.byteOffset % bytes !== 0) buf = new Uint8Array(buf);
  const n = buf.byteLength / bytes;
  switch (t.dtype) {
    case 'float32':
      return new Float32Array(buf.buffer, buf.byteOffset, n);
    case 'float64':
      return new Float64Array(buf.buffer, buf.byteOffset, n);
    case 'int32':
      return new Int32Array(buf.buffer, buf.byteOffset, n);
    case 'int64':
      return new BigInt64Array(buf.buffer, buf.byteOffset, n);
    case 'uint8':
    case 'bool':
      return new Uint8Array(buf.buffer, buf.byteOffset, n);
  }
}

/** The dtype a typed array naturally carries (Uint8Array is read as uint8, not bool). */
export function dtypeOf(data: TypedArray): DType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof BigInt64Array) return 'int64';
  return 'uint8';
}

/** Builds a Tensor from a typed array without copying. */
export function tensorFrom(data: TypedArray, shape: readonly number[], dtype: DType = dtypeOf(data)): Tensor {
  return { dtype, shape: [...shape], data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}
