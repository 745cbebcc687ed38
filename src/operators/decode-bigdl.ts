import { mergeMap, type OperatorFunction } from 'rxjs';
import type { SourceEntry } from '../connector/source';
import type { TensorInfo } from '../runtime/model-runtime';
import { decodeBigdlRequest } from '../protocol/bigdl/bigdl-request';
import { errorResult, undecodableResult, type InferenceRequest, type InferenceResult } from '../tensor/records';
import { tensorFrom, toTypedArray, type DType, type Tensor } from '../tensor/tensor';
import { toFloat16 } from '../tensor/float16';
import { RequestError, toClusterServingError } from '../errors';
import { imageToTensor, type ImageToTensorOptions } from './image-to-tensor';

export interface DecodeBigdlOptions {
  /** The model's inputs: BigDL inputs are fed by position. */
  readonly modelInputs: readonly TensorInfo[];
  /** `0.11`: tensors come without the batch dimension (a leading 1 is added). */
  readonly convention: '2.x' | '0.11';
  /**
   * How images become tensors; BigDL's own convention by default: BGR, raw 0–255, decoded size, and the
   * layout of the model input the image goes to (see {@link imageLayoutFor}) unless `layout` is given.
   */
  readonly image?: Partial<ImageToTensorOptions>;
  readonly maxRequestBytes: number;
  /** Images decoded at once (libvips threads). @default 8 */
  readonly imageConcurrency?: number;
  readonly now?: () => number;
}

/** Converts float32 values (BigDL's tensors, decoded images) to the dtype the model declares (e.g. int64 token ids, uint8 pixels). */
export function castTo(t: Tensor, dtype: DType | undefined): Tensor {
  if (dtype === undefined || dtype === t.dtype) return t;
  const values = toTypedArray(t) as Float32Array;
  switch (dtype) {
    case 'float64':
      return tensorFrom(Float64Array.from(values), t.shape);
    case 'int32':
      return tensorFrom(Int32Array.from(values, (v) => Math.round(v)), t.shape);
    case 'int64':
      return tensorFrom(BigInt64Array.from(values, (v) => BigInt(Math.round(v))), t.shape);
    case 'uint8':
      return tensorFrom(Uint8Array.from(values, (v) => Math.max(0, Math.min(255, Math.round(v)))), t.shape);
    case 'bool':
      return tensorFrom(Uint8Array.from(values, (v) => (v !== 0 ? 1 : 0)), t.shape, 'bool');
    case 'float16':
      return tensorFrom(toFloat16(values), t.shape);
    case 'float32':
      return t;
  }
}

/**
 * The layout an image is decoded in for a model input when the topology names none, as the original
 * server did for TensorFlow models: channels-last for a 4-D input whose last dimension is 3 and whose
 * second is not ([n, h, w, 3]), channels-first otherwise (BigDL's default, [n, 3, h, w]).
 */
export function imageLayoutFor(input: TensorInfo): 'NCHW' | 'NHWC' {
  const { shape } = input;
  return shape.length === 4 && shape[3] === 3 && shape[1] !== 3 ? 'NHWC' : 'NCHW';
}

/**
 * Decodes BigDL-protocol entries (reference/bigdl-protocol.md): base64 Arrow with inputs by position,
 * dense and sparse float32 tensors, and images (decoded off the event loop, in the layout of the model
 * input they go to). Each input is renamed to the model's input at its position and cast to its dtype.
 * A bad entry becomes an error result for that entry alone (which the BigDL sink writes as `NaN`).
 */
export function decodeBigdl(options: DecodeBigdlOptions): OperatorFunction<SourceEntry, InferenceRequest | InferenceResult> {
  const now = options.now ?? (() => performance.now());
  const given = options.image ?? {};
  // Per model input (by position): the layout follows the input's declared shape unless the topology names one.
  const images: ImageToTensorOptions[] = options.modelInputs.map((info) => ({ ...given, layout: given.layout ?? imageLayoutFor(info), channelOrder: given.channelOrder ?? 'BGR' }));
  return mergeMap(async (entry): Promise<InferenceRequest | InferenceResult> => {
    const receivedAt = now();
    const ref = { split: entry.split, entryId: entry.entryId };
    const uri = entry.uri || entry.entryId;
    try {
      if (!entry.uri) throw new RequestError('CS_ERR_BAD_REQUEST', 'stream entry has no uri field');
      if (entry.data.byteLength > options.maxRequestBytes) throw new RequestError('CS_ERR_BAD_REQUEST', `request of ${entry.data.byteLength} bytes exceeds decode.maxRequestBytes (${options.maxRequestBytes})`);
      let decoded: ReturnType<typeof decodeBigdlRequest>;
      try {
        decoded = decodeBigdlRequest(entry.data);
      } catch (err) {
        // Not a request at all: its error result, and the entry as read in the dead-letter stream.
        const e = toClusterServingError(err, 'CS_ERR_BAD_REQUEST');
        return undecodableResult(entry, { uri, ref, replyTo: undefined, receivedAt }, { code: e.code, message: e.message });
      }
      if (decoded.length !== options.modelInputs.length) {
        throw new RequestError('CS_ERR_SHAPE', `model takes ${options.modelInputs.length} input(s) (${options.modelInputs.map((i) => i.name).join(', ')}); request has ${decoded.length}`);
      }
      const inputs = new Map<string, Tensor>();
      for (let k = 0; k < decoded.length; k++) {
        const input = decoded[k]!;
        const info = options.modelInputs[k]!;
        let t: Tensor;
        if (input.kind === 'tensor') t = options.convention === '0.11' ? { ...input.tensor, shape: [1, ...input.tensor.shape] } : input.tensor;
        else if (input.kind === 'image') t = await imageToTensor(input.bytes, images[k]!);
        else throw new RequestError('CS_ERR_BAD_REQUEST', `input ${k + 1}: string inputs cannot be fed to an ONNX model input (${info.name})`);
        inputs.set(info.name, castTo(t, info.dtype));
      }
      return { kind: 'request', uri, ref, replyTo: undefined, inputs, receivedAt };
    } catch (err) {
      const e = toClusterServingError(err, 'CS_ERR_BAD_REQUEST');
      return errorResult({ uri, ref, replyTo: undefined, receivedAt }, { code: e.code, message: e.message });
    }
  }, options.imageConcurrency ?? 8);
}
