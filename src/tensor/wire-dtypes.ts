import { float16DecodeTable } from './float16';
import { elementCount, type DType, type Tensor } from './tensor';

/*
 * Compact wire dtypes: a request may send a float32 model input as float16 (half the bytes) or as uint8
 * (a quarter: raw 0–255 pixels). The server converts such a tensor while it builds the batch, writing
 * float32 values straight into the batch's shared buffer (no array per request).
 */

/**
 * How uint8 values become float32 for a float32 model input: `(x · scale − mean[c]) / std[c]`, c being
 * the index along `channelAxis`. One mean and std (the default, `[0]` and `[1]`) apply to every element.
 */
export interface Normalization {
  readonly scale: number;
  readonly mean: readonly number[];
  readonly std: readonly number[];
  /** The dimension that indexes `mean` and `std` (negative counts from the end). */
  readonly channelAxis: number;
}

/** The dtypes a request may send instead of each model dtype (besides the model's own). */
const COMPACT: Partial<Readonly<Record<DType, readonly DType[]>>> = { float32: ['float16', 'uint8'] };

/** Whether a request tensor of dtype `sent` can feed a model input of dtype `model` (itself, or converted). */
export function convertible(sent: DType, model: DType | undefined): boolean {
  return model === undefined || sent === model || (COMPACT[model]?.includes(sent) ?? false);
}

/** The dtypes a model input of dtype `model` accepts, its own first (`float32, float16, uint8`). */
export function acceptedDtypes(model: DType): readonly DType[] {
  return [model, ...(COMPACT[model] ?? [])];
}

function channels(n: Normalization): number {
  return Math.max(n.mean.length, n.std.length);
}

/**
 * Why `normalize` cannot apply to a uint8 tensor of `shape` (its channel axis missing or of another size
 * than mean/std), or undefined when it can.
 */
export function normalizationProblem(shape: readonly number[], n: Normalization): string | undefined {
  const c = channels(n);
  if (c === 1) return undefined;
  const axis = n.channelAxis < 0 ? shape.length + n.channelAxis : n.channelAxis;
  if (axis < 0 || axis >= shape.length) return `decode.normalize.channelAxis ${n.channelAxis} is not a dimension of shape [${shape.join(', ')}]`;
  if (shape[axis] !== c) return `decode.normalize has ${c} channels, shape [${shape.join(', ')}] has ${shape[axis]} along channelAxis ${n.channelAxis}`;
  return undefined;
}

/** Per-channel tables of the 256 normalised values, kept per Normalization object. */
const tables = new WeakMap<Normalization, Float32Array>();
const IDENTITY: Normalization = { scale: 1, mean: [0], std: [1], channelAxis: 1 };

/**
 * `c · 256 + x` → `(x · scale − mean[c]) / std[c]` as float32, computed once per normalisation. A lookup per
 * element is exact (the same rounding as the formula in float64) and cheaper than the arithmetic.
 */
function uint8Table(n: Normalization): Float32Array {
  let table = tables.get(n);
  if (!table) {
    const c = channels(n);
    table = new Float32Array(256 * c);
    for (let k = 0; k < c; k++) {
      const mean = n.mean[n.mean.length === 1 ? 0 : k]!;
      const std = n.std[n.std.length === 1 ? 0 : k]!;
      for (let x = 0; x < 256; x++) table[k * 256 + x] = (x * n.scale - mean) / std;
    }
    tables.set(n, table);
  }
  return table;
}

/** Reused for a float16 tensor at an odd byte offset (a Uint16Array view needs an even one). */
let staging = new Uint8Array(0);

/**
 * Writes `source` (float32, float16 or uint8) as float32 values into `target`, which must hold exactly its
 * elements. uint8 values are normalised by `normalize` when given (checked beforehand with
 * {@link normalizationProblem}), else cast as they are (0–255); float16 values are cast exactly.
 * @throws Error when `source` is of another dtype.
 */
export function writeFloat32(target: Float32Array, source: Tensor, normalize?: Normalization): void {
  const count = elementCount(source.shape);
  if (target.length !== count) throw new Error(`writeFloat32: ${target.length} floats for ${count} elements`);
  const data = source.data;
  switch (source.dtype) {
    case 'float32':
      new Uint8Array(target.buffer, target.byteOffset, target.byteLength).set(data);
      return;
    case 'float16': {
      let bytes = data;
      if (bytes.byteOffset % 2 !== 0) {
        if (staging.byteLength < bytes.byteLength) staging = new Uint8Array(Math.max(bytes.byteLength, 2 * staging.byteLength));
        staging.set(bytes);
        bytes = staging;
      }
      const bits = new Uint16Array(bytes.buffer, bytes.byteOffset, count);
      const out = new Uint32Array(target.buffer, target.byteOffset, count);
      const table = float16DecodeTable();
      for (let i = 0; i < count; i++) out[i] = table[bits[i]!]!;
      return;
    }
    case 'uint8':
      writeNormalizedUint8(target, data, source.shape, normalize ?? IDENTITY);
      return;
    default:
      throw new Error(`a ${source.dtype} tensor cannot be converted to float32`);
  }
}

function writeNormalizedUint8(out: Float32Array, x: Uint8Array, shape: readonly number[], n: Normalization): void {
  const table = uint8Table(n);
  const count = x.length;
  const c = table.length / 256;
  if (c === 1) {
    for (let i = 0; i < count; i++) out[i] = table[x[i]!]!;
    return;
  }
  const axis = n.channelAxis < 0 ? shape.length + n.channelAxis : n.channelAxis;
  const inner = elementCount(shape.slice(axis + 1));
  if (inner === 1) {
    // Channels last: the channel cycles with every element.
    for (let i = 0; i < count; i += c) for (let k = 0; k < c; k++) out[i + k] = table[k * 256 + x[i + k]!]!;
    return;
  }
  // Channels first: runs of `inner` elements share a channel.
  let k = 0;
  for (let start = 0; start < count; start += inner) {
    const base = k * 256;
    const end = start + inner;
    for (let i = start; i < end; i++) out[i] = table[base + x[i]!]!;
    k = k + 1 === c ? 0 : k + 1;
  }
}
