import type { TensorInfo } from '../../runtime/model-runtime';
import { kserveDatatypeOfOnnx, toKServeDatatype } from './datatypes';
import { metadataDim } from './check-infer-inputs';
import type { MetadataTensor, ModelMetadataResponse } from './messages';

/** The `platform` of ONNX models, as Triton names it. */
export const ONNX_PLATFORM = 'onnxruntime_onnx';

/** The one version every served model has. */
export const MODEL_VERSION = '1';

/** A declared input or output; `elemType` (the ONNX element type name) names datatypes we do not serve. */
export type DeclaredTensor = TensorInfo & { readonly elemType?: string };

/** One input or output as model metadata shows it: symbolic dimensions become -1. */
export function metadataTensor(info: DeclaredTensor): MetadataTensor {
  const datatype = info.dtype !== undefined ? toKServeDatatype(info.dtype) : kserveDatatypeOfOnnx(info.elemType ?? '');
  return { name: info.name, datatype, shape: info.shape.map(metadataDim) };
}

/**
 * The model metadata response of a served model.
 *
 * @example
 * modelMetadata('tiny', info.inputs, info.outputs);
 * // { name: 'tiny', versions: ['1'], platform: 'onnxruntime_onnx',
 * //   inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 16] }], outputs: [{ name: 'output', datatype: 'FP32', shape: [-1, 8] }] }
 */
export function modelMetadata(name: string, inputs: readonly DeclaredTensor[], outputs: readonly DeclaredTensor[], platform: string = ONNX_PLATFORM): ModelMetadataResponse {
  return { name, versions: [MODEL_VERSION], platform, inputs: inputs.map(metadataTensor), outputs: outputs.map(metadataTensor) };
}
