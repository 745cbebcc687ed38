import { RequestError } from '../../errors';
import { toValues, type NamedTensors, type Tensor } from '../../tensor/tensor';
import { toKServeDatatype } from './datatypes';
import type { RequestedOutput } from './decode-infer-request';

/** What goes into an inference response. */
export interface InferResponseParts {
  readonly modelName: string;
  readonly modelVersion?: string;
  /** The request's id, echoed. */
  readonly id?: string | undefined;
  /** The result's outputs, in the order the model produced them. */
  readonly outputs: NamedTensors;
  /** The outputs asked for (undefined: all of them). */
  readonly requested?: readonly RequestedOutput[] | undefined;
  /** `parameters.binary_data_output` of the request. */
  readonly binaryOutput?: boolean;
}

/** An encoded response: `body` is the JSON, then the binary outputs; `headerLength` is set when binary data follows. */
export interface EncodedInferResponse {
  readonly body: Buffer;
  /** The JSON part's length in bytes (the Inference-Header-Content-Length header), when binary data follows it. */
  readonly headerLength: number | undefined;
}

/**
 * A tensor's elements as a JSON array text: numbers (INT64 as numbers, exact up to 2^53), booleans for
 * BOOL. Written by joining the typed array, which prints each number as JSON.stringify does (the
 * shortest text that reads back the same double), except NaN and ±Infinity: JSON has no text for
 * them and JSON.stringify writes null, so a float tensor holding one goes through JSON.stringify.
 */
function jsonDataText(t: Tensor): string {
  if (t.dtype === 'bool') return `[${Array.from(t.data, (b) => (b !== 0 ? 'true' : 'false')).join(',')}]`;
  const arr = toValues(t); // float16 bits decoded to numbers
  if (arr instanceof BigInt64Array) return `[${Array.from(arr, (v) => String(Number(v))).join(',')}]`;
  if (arr instanceof Float32Array || arr instanceof Float64Array) {
    for (let i = 0; i < arr.length; i++) if (!Number.isFinite(arr[i]!)) return JSON.stringify(Array.from(arr));
  }
  return `[${arr.join(',')}]`;
}

/**
 * Encodes an inference response: each output as `{name, datatype, shape, data}` (row-major), or, when
 * it is asked for as binary data (its `parameters.binary_data`, else the request's
 * `binary_data_output`), as `parameters.binary_data_size` bytes after the JSON. The JSON is the
 * InferResponse of messages.ts, written as text directly (the hot path of every JSON inference: no
 * intermediate objects or arrays of boxed numbers).
 *
 * @throws RequestError (CS_ERR_BAD_REQUEST) when a requested output is not among the outputs.
 * @example
 * const { body, headerLength } = encodeInferResponse({ modelName: 'tiny', outputs });
 * // headerLength === undefined: body is JSON {"model_name":"tiny","outputs":[…]}
 */
export function encodeInferResponse(parts: InferResponseParts): EncodedInferResponse {
  const selected: { name: string; tensor: Tensor; binary: boolean }[] = [];
  const binaryDefault = parts.binaryOutput === true;
  if (parts.requested) {
    for (const r of parts.requested) {
      const tensor = parts.outputs.get(r.name);
      if (!tensor) throw new RequestError('CS_ERR_BAD_REQUEST', `output "${r.name}" is not an output of model ${parts.modelName} (outputs: ${[...parts.outputs.keys()].join(', ')})`);
      selected.push({ name: r.name, tensor, binary: r.binary ?? binaryDefault });
    }
  } else {
    for (const [name, tensor] of parts.outputs) selected.push({ name, tensor, binary: binaryDefault });
  }
  const binaries: Buffer[] = [];
  const outputs = selected.map(({ name, tensor, binary }) => {
    const head = `{"name":${JSON.stringify(name)},"datatype":"${toKServeDatatype(tensor.dtype)}","shape":[${tensor.shape.join(',')}]`;
    if (!binary) return `${head},"data":${jsonDataText(tensor)}}`;
    binaries.push(Buffer.from(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength));
    return `${head},"parameters":{"binary_data_size":${tensor.data.byteLength}}}`;
  });
  let text = `{"model_name":${JSON.stringify(parts.modelName)}`;
  if (parts.modelVersion !== undefined) text += `,"model_version":${JSON.stringify(parts.modelVersion)}`;
  if (parts.id !== undefined) text += `,"id":${JSON.stringify(parts.id)}`;
  text += `,"outputs":[${outputs.join(',')}]}`;
  const json = Buffer.from(text, 'utf8');
  if (binaries.length === 0) return { body: json, headerLength: undefined };
  return { body: Buffer.concat([json, ...binaries]), headerLength: json.byteLength };
}
