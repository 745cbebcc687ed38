import { ClusterServingError } from '../../errors';
import { DTYPES, type DType } from '../../tensor/tensor';

/** One element value as the CLI reads and writes it: a number, or a bigint for 64-bit integers. */
export type ElementValue = number | bigint;

/** Reads and writes one element of a dtype at a byte offset (little-endian, as tensors travel). */
export interface ElementCodec {
  /** Bytes per element. */
  readonly bytes: number;
  read(view: DataView, byteOffset: number): ElementValue;
  /** Writes a value; a number that the dtype cannot hold is refused by the caller ({@link toElement}). */
  write(view: DataView, byteOffset: number, value: ElementValue): void;
}

/**
 * IEEE 754 half precision ↔ number. (Hand-written: Node 20 has no DataView.getFloat16, and these 20
 * lines are the whole format.) Rounds to nearest even; overflow gives ±Infinity.
 */
function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

const FLOAT_VIEW = new DataView(new ArrayBuffer(4));

function numberToHalf(value: number): number {
  FLOAT_VIEW.setFloat32(0, value);
  const x = FLOAT_VIEW.getUint32(0);
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  const mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const m = mantissa | 0x800000;
    const shift = 14 - e;
    const half = m >> shift;
    const rest = m & ((1 << shift) - 1);
    const midpoint = 1 << (shift - 1);
    return sign | (half + (rest > midpoint || (rest === midpoint && half & 1) ? 1 : 0));
  }
  const half = (e << 10) | (mantissa >> 13);
  const rest = mantissa & 0x1fff;
  return sign | (half + (rest > 0x1000 || (rest === 0x1000 && half & 1) ? 1 : 0));
}

const num = (v: ElementValue): number => (typeof v === 'bigint' ? Number(v) : v);

/**
 * Per dtype name. Keyed by name (not `Record<DType, …>`) so that the table may already know dtypes the
 * client does not serve yet; {@link elementCodec} is what the CLI calls, for the client's `DType`s only.
 */
const CODECS: Readonly<Record<string, ElementCodec>> = {
  float32: { bytes: 4, read: (v, o) => v.getFloat32(o, true), write: (v, o, x) => v.setFloat32(o, num(x), true) },
  float64: { bytes: 8, read: (v, o) => v.getFloat64(o, true), write: (v, o, x) => v.setFloat64(o, num(x), true) },
  int32: { bytes: 4, read: (v, o) => v.getInt32(o, true), write: (v, o, x) => v.setInt32(o, num(x), true) },
  int64: { bytes: 8, read: (v, o) => v.getBigInt64(o, true), write: (v, o, x) => v.setBigInt64(o, typeof x === 'bigint' ? x : BigInt(x), true) },
  uint8: { bytes: 1, read: (v, o) => v.getUint8(o), write: (v, o, x) => v.setUint8(o, num(x)) },
  bool: { bytes: 1, read: (v, o) => (v.getUint8(o) === 0 ? 0 : 1), write: (v, o, x) => v.setUint8(o, num(x) === 0 ? 0 : 1) },
  float16: { bytes: 2, read: (v, o) => halfToNumber(v.getUint16(o, true)), write: (v, o, x) => v.setUint16(o, numberToHalf(num(x)), true) },
};

/** The codec of a served dtype; CS_ERR_BAD_REQUEST for a dtype the CLI cannot read or write. */
export function elementCodec(dtype: DType): ElementCodec {
  const codec = CODECS[dtype];
  if (!codec) throw new ClusterServingError('CS_ERR_BAD_REQUEST', `the CLI cannot read or write dtype ${dtype}`);
  return codec;
}

/** Every served dtype the CLI handles (a test checks this is all of `DTYPES`). */
export function cliDtypes(): DType[] {
  return DTYPES.filter((d) => CODECS[d] !== undefined);
}

/** Whether a dtype holds integers (values from text must be whole numbers in its range). */
const INTEGER_RANGES: Readonly<Record<string, readonly [bigint, bigint]>> = {
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint8: [0n, 255n],
};

/**
 * Checks one value given as text or JSON for a dtype and returns it as the codec writes it: integers
 * must be whole and in range (int64 accepts decimal strings beyond 2^53), bool takes true/false/0/1.
 * Returns a problem text instead when the value does not fit.
 */
export function toElement(dtype: DType, value: unknown): ElementValue | { problem: string } {
  if (dtype === 'bool') {
    if (value === true || value === 1) return 1;
    if (value === false || value === 0) return 0;
    return { problem: `${JSON.stringify(value)} is not a bool (true, false, 0 or 1)` };
  }
  const range = INTEGER_RANGES[dtype];
  if (range) {
    let n: bigint;
    if (typeof value === 'number' && Number.isInteger(value)) n = BigInt(value);
    else if (dtype === 'int64' && typeof value === 'string' && /^-?\d+$/.test(value)) n = BigInt(value);
    else return { problem: `${JSON.stringify(value)} is not a whole number (dtype ${dtype})` };
    if (n < range[0] || n > range[1]) return { problem: `${String(n)} is out of range for ${dtype}` };
    return dtype === 'int64' ? n : Number(n);
  }
  if (typeof value === 'number') return value;
  return { problem: `${JSON.stringify(value)} is not a number (dtype ${dtype})` };
}

/** Every element of a tensor's bytes as values, in order. */
export function readElements(dtype: DType, data: Uint8Array): ElementValue[] {
  const codec = elementCodec(dtype);
  const size = codec.bytes;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const out: ElementValue[] = new Array<ElementValue>(data.byteLength / size);
  for (let i = 0; i < out.length; i++) out[i] = codec.read(view, i * size);
  return out;
}

/** Writes values (already checked with {@link toElement}) into a new byte buffer of the dtype. */
export function writeElements(dtype: DType, values: readonly ElementValue[]): Uint8Array {
  const codec = elementCodec(dtype);
  const size = codec.bytes;
  const data = new Uint8Array(values.length * size);
  const view = new DataView(data.buffer);
  for (let i = 0; i < values.length; i++) codec.write(view, i * size, values[i]!);
  return data;
}
