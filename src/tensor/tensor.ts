import { fromFloat16 } from './float16';

/**
 * Element types a request tensor may carry (the native protocol's `DType` enum). `float16` is IEEE 754
 * half precision, held as its 16-bit patterns in a Uint16Array (Node 20 has no Float16Array; see
 * `float16.ts` for conversions).
 */
export const DTYPES = ['float32', 'float64', 'int32', 'int64', 'uint8', 'bool', 'float16'] as const;
export type DType = (typeof DTYPES)[number];

export const DTYPE_BYTES: Readonly<Record<DType, number>> = {
  float32: 4,
  float64: 8,
  int32: 4,
  int64: 8,
  uint8: 1,
  bool: 1,
  float16: 2,
};

/** Typed arrays of the dtypes; a Uint16Array holds float16 bit patterns. */
export type TypedArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array;

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
    case 'float16':
      return new Uint16Array(buf.buffer, buf.byteOffset, n);
  }
}

/**
 * A tensor's elements as a typed array of their values: {@link toTypedArray}, except that float16 bit
 * patterns are decoded into a new Float32Array.
 */
export function toValues(t: Tensor): Exclude<TypedArray, Uint16Array> {
  const arr = toTypedArray(t);
  return arr instanceof Uint16Array ? fromFloat16(arr) : arr;
}

/** The dtype a typed array naturally carries (Uint8Array is read as uint8, not bool; Uint16Array as float16 bits, the only 16-bit dtype). */
export function dtypeOf(data: TypedArray): DType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Uint16Array) return 'float16';
  return 'uint8';
}

/** Builds a Tensor from a typed array without copying. */
export function tensorFrom(data: TypedArray, shape: readonly number[], dtype: DType = dtypeOf(data)): Tensor {
  return { dtype, shape: [...shape], data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}
