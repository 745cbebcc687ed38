import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { imageInput } from '../../client/tensor-input';
import type { ModelTensorStatus } from '../../cluster-api/dto';
import { ClusterServingError } from '../../errors';
import { DTYPE_BYTES, elementCount, isDType, type DType, type Tensor } from '../../tensor/tensor';
import { readElements, writeElements } from './element-codecs';
import { jsonArray } from './json-tensor';
import { parseNpy } from './npy-file';

/** What the CLI knows of the input a file feeds. */
export interface InputTarget {
  /** The job as errors name it, e.g. `job tiny`. */
  readonly label: string;
  /** The model input the file feeds (from the JobManager), when known. */
  readonly declared?: ModelTensorStatus;
  /** Set when this input does not take encoded images: the one-line reason, e.g. the job does not decode images. */
  readonly imageRefusal?: string;
}

/** `--dtype` and `--shape`, when given. */
export interface InputFileFlags {
  readonly dtype?: DType;
  readonly shape?: readonly number[];
}

/** Extensions read as encoded images (sent as they are, for `decode: image` jobs). */
export const IMAGE_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.png', '.webp'];

const FLOATS: readonly string[] = ['float16', 'float32', 'float64'];

function bad(message: string): ClusterServingError {
  return new ClusterServingError('CS_ERR_BAD_REQUEST', message);
}

/** The model input's dtype when it is one the client serves. */
function declaredDtype(target: InputTarget): DType | undefined {
  const d = target.declared?.dtype;
  return d !== undefined && isDType(d) ? d : undefined;
}

function shapeText(shape: readonly number[]): string {
  return `[${shape.map((d) => (d < 0 ? '?' : String(d))).join(', ')}]`;
}

/**
 * The shape a file's values are sent with: `--shape` when given (the element count must match); else the
 * file's own shape with a batch dimension of 1 in front when the model's input has one more dimension;
 * else, for flat data (raw bytes, a flat JSON array), the model's input shape with batch 1 when its
 * size matches; else the file's own shape.
 */
export function fitShape(file: string, own: readonly number[] | undefined, count: number, target: InputTarget, flags: InputFileFlags): number[] {
  if (flags.shape) {
    if (elementCount(flags.shape) !== count) throw bad(`${file}: ${count} values do not fill --shape ${shapeText(flags.shape)} (${elementCount(flags.shape)} values)`);
    return [...flags.shape];
  }
  const declared = target.declared?.shape;
  if (own && declared && own.length === declared.length - 1) return [1, ...own];
  const flat = own === undefined || own.length <= 1;
  if (flat && declared && declared.length > 0) {
    const resolved = declared.map((d, i) => (i === 0 && d < 0 ? 1 : d));
    if (resolved.every((d) => d >= 0) && elementCount(resolved) === count) return resolved;
  }
  if (own) return [...own];
  throw bad(`${file}: raw bytes need --shape${declared ? ` (the model input ${target.declared?.name} is ${shapeText(declared)})` : ''}`);
}

/** A float tensor cast to another float dtype (numpy writes float64 by default; models mostly take float32). */
function castFloat(t: Tensor, dtype: DType): Tensor {
  return { dtype, shape: t.shape, data: writeElements(dtype, readElements(t.dtype, t.data)) };
}

/**
 * Reads one input file by its extension: `.npy` (numpy's format), `.json` (nested arrays), an image
 * (`.jpg`/`.jpeg`/`.png`/`.webp`: its bytes as they are, for `decode: image` jobs) or anything else as raw
 * little-endian bytes. Tensor files take their dtype from the file (`.npy`), `--dtype`, or the model's
 * input (JSON and raw; float32 when unknown); a float `.npy` is cast to the model input's float dtype.
 * Shapes follow {@link fitShape}. Whether the tensor fits the model is left to the server, whose error
 * result names what it expected.
 *
 * @throws ClusterServingError CS_ERR_BAD_REQUEST with one line naming the file: unreadable, malformed,
 *   an image for a job that does not decode images, values that do not fill the shape.
 */
export async function readInputFile(file: string, target: InputTarget, flags: InputFileFlags = {}): Promise<Tensor> {
  const ext = extname(file).toLowerCase();
  if (IMAGE_EXTENSIONS.includes(ext) && target.imageRefusal !== undefined) throw bad(`${file}: ${target.imageRefusal}`);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (err) {
    const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : '';
    throw bad(`${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a folder, not a file' : err instanceof Error ? err.message : String(err)}`);
  }
  if (IMAGE_EXTENSIONS.includes(ext)) return imageInput(bytes);

  if (ext === '.npy') {
    const t = parseNpy(bytes, file);
    const want = flags.dtype ?? declaredDtype(target);
    const cast = want !== undefined && want !== t.dtype && FLOATS.includes(want) && FLOATS.includes(t.dtype) ? castFloat(t, want) : t;
    return { ...cast, shape: fitShape(file, t.shape, elementCount(t.shape), target, flags) };
  }

  const dtype = flags.dtype ?? declaredDtype(target);
  if (ext === '.json') {
    const { shape, values } = jsonArray(Buffer.from(bytes).toString('utf8'), dtype ?? 'float32', file);
    return { dtype: dtype ?? 'float32', shape: fitShape(file, shape, values.length, target, flags), data: writeElements(dtype ?? 'float32', values) };
  }

  if (dtype === undefined) throw bad(`${file}: raw bytes need --dtype (a .npy or .json file carries its own)`);
  const size = DTYPE_BYTES[dtype];
  if (bytes.byteLength % size !== 0) throw bad(`${file}: ${bytes.byteLength} bytes are not a whole number of ${dtype} values (${size} bytes each)`);
  return { dtype, shape: fitShape(file, undefined, bytes.byteLength / size, target, flags), data: bytes };
}
