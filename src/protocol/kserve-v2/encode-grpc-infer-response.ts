import { RequestError } from '../../errors';
import type { NamedTensors } from '../../tensor/tensor';
import { toKServeDatatype } from './datatypes';
import type { RequestedOutput } from './decode-infer-request';
import type { GrpcInferOutputTensor, GrpcModelInferResponse } from './grpc-messages';

/**
 * A gRPC ModelInferResponse: each output (the requested ones in request order, else all in the model's
 * order) as name, datatype and shape, with its bytes in `raw_output_contents` (little-endian, row-major),
 * as Triton answers, so clients read them with no per-element decoding.
 *
 * @throws RequestError (CS_ERR_BAD_REQUEST) when a requested output is not among the outputs.
 * @example
 * encodeGrpcInferResponse({ modelName: 'tiny', modelVersion: '1', id: undefined, outputs, requested: undefined });
 * // { model_name: 'tiny', model_version: '1', id: '', outputs: [{ name: 'output', datatype: 'FP32', shape: [1, 8] }], raw_output_contents: [<32 bytes>] }
 */
export function encodeGrpcInferResponse(parts: {
  readonly modelName: string;
  readonly modelVersion: string;
  readonly id: string | undefined;
  readonly outputs: NamedTensors;
  readonly requested: readonly RequestedOutput[] | undefined;
}): GrpcModelInferResponse {
  const names = parts.requested ? parts.requested.map((r) => r.name) : [...parts.outputs.keys()];
  const outputs: GrpcInferOutputTensor[] = [];
  const raw: Buffer[] = [];
  for (const name of names) {
    const tensor = parts.outputs.get(name);
    if (!tensor) throw new RequestError('CS_ERR_BAD_REQUEST', `output "${name}" is not an output of model ${parts.modelName} (outputs: ${[...parts.outputs.keys()].join(', ')})`);
    outputs.push({ name, datatype: toKServeDatatype(tensor.dtype), shape: [...tensor.shape] });
    raw.push(Buffer.from(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength));
  }
  return { model_name: parts.modelName, model_version: parts.modelVersion, id: parts.id ?? '', outputs, raw_output_contents: raw };
}
