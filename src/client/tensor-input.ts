import { ClusterServingError } from '../errors';
import { DTYPE_BYTES, dtypeOf, elementCount, isDType, tensorFrom, type DType, type Tensor, type TypedArray } from '../tensor/tensor';

/**
 * What a client may pass as one input: a Tensor, or `{ data, shape, dtype? }` with a typed array
 * (an onnxruntime `Tensor` has this shape too: `{ data, dims, type }` is accepted as well).
 * A Uint16Array is float16 bits (`toFloat16(floats)` makes one). A float32 model input also takes a
 * float16 tensor (half the bytes) or a uint8 one (a quarter: raw pixels, normalised by the job's
 * `decode.normalize` or cast as they are); the TaskManager converts them.
 *
 * @example
 * await q.predict({ input: { data: toFloat16(floats), shape: [1, 3, 224, 224] } });
 * await q.predict({ input: { data: rgbBytes, shape: [1, 3, 224, 224] } }); // Uint8Array: uint8
 */
export type TensorInput =
  | Tensor
  | { readonly data: TypedArray; readonly shape: readonly number[]; readonly dtype?: DType }
  | { readonly data: TypedArray; readonly dims: readonly number[]; readonly type: string };

/** Named inputs, in the order the model takes them when names do not match. */
export type Inputs = Readonly<Record<string, TensorInput>> | ReadonlyMap<string, TensorInput>;

function toTensor(name: string, input: TensorInput): Tensor {
  if ('dims' in input) {
    if (!isDType(input.type)) throw new ClusterServingError('CS_ERR_BAD_REQUEST', `input ${name}: dtype ${input.type} is not served`);
    return tensorFrom(input.data, input.dims, input.type);
  }
  const t = tensorFrom(input.data, input.shape, input.dtype ?? dtypeOf(input.data));
  const expected = elementCount(t.shape) * DTYPE_BYTES[t.dtype];
  if (t.data.byteLength !== expected) {
    throw new ClusterServingError('CS_ERR_BAD_REQUEST', `input ${name}: ${t.data.byteLength} bytes do not match ${t.dtype} shape [${t.shape.join(', ')}]`);
  }
  return t;
}

/** Normalises client inputs into named tensors (no copy of the data). */
export function toNamedTensors(inputs: Inputs): Map<string, Tensor> {
  const entries = inputs instanceof Map ? [...inputs] : Object.entries(inputs as Record<string, TensorInput>);
  return new Map(entries.map(([name, t]) => [name, toTensor(name, t)]));
}

/**
 * One encoded image (a JPEG, PNG or WebP file's bytes) as a request input, for jobs with
 * `decode: { type: image }`: a uint8 tensor of rank 1 holding the bytes as they are (no copy). The
 * TaskManager decodes, resizes and normalises it into the model's input tensor.
 *
 * @example
 * const out = await q.predict({ input: imageInput(await readFile('cat.jpg')) });
 */
export function imageInput(bytes: Uint8Array): Tensor {
  if (bytes.byteLength === 0) throw new ClusterServingError('CS_ERR_BAD_REQUEST', 'imageInput: the image has no bytes');
  return tensorFrom(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), [bytes.byteLength], 'uint8');
}
