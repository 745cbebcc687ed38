import { RequestError } from '../../errors';
import { DTYPE_BYTES, type DType, type Tensor } from '../../tensor/tensor';
import { fromKServeDatatype, KSERVE_DATATYPES } from './datatypes';
import { BYTES_DATATYPE, bytesElement, type InferRequest, type RequestedOutput } from './decode-infer-request';
import type { GrpcInferInputTensor, GrpcInferParameter, GrpcInt64, GrpcModelInferRequest, GrpcParameters, GrpcTensorContents } from './grpc-messages';

function bad(message: string): RequestError {
  return new RequestError('CS_ERR_BAD_REQUEST', message);
}

/** The `contents` field that carries each served datatype's elements (FP16 has none: raw contents only). */
const CONTENTS_FIELD: Readonly<Partial<Record<DType, keyof GrpcTensorContents>>> = {
  float32: 'fp32_contents',
  float64: 'fp64_contents',
  int32: 'int_contents',
  int64: 'int64_contents',
  uint8: 'uint_contents',
  bool: 'bool_contents',
};

function parameterNumber(p: GrpcInferParameter | undefined): number | undefined {
  if (!p) return undefined;
  const value = p.int64_param ?? p.uint64_param ?? p.double_param;
  return value === undefined ? undefined : Number(value);
}

function refuseSharedMemory(params: GrpcParameters | undefined, what: string): void {
  if (params && Object.keys(params).some((k) => k.startsWith('shared_memory_'))) throw bad(`${what}: shared memory is not supported`);
}

function parseShape(name: string, shape: readonly GrpcInt64[] | undefined): number[] {
  const dims = (shape ?? []).map(Number);
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) throw bad(`input "${name}": shape must be non-negative integers, got [${(shape ?? []).join(', ')}]`);
  return dims;
}

/** The elements of `contents` for `dtype` as the tensor's bytes; a RequestError naming the input when they do not fit. */
function tensorDataFromContents(name: string, datatype: string, dtype: DType, shape: readonly number[], count: number, contents: GrpcTensorContents): Uint8Array {
  const field = CONTENTS_FIELD[dtype];
  if (!field) throw bad(`input "${name}": datatype ${datatype} has no typed contents field; send its bytes in raw_input_contents`);
  for (const [other, values] of Object.entries(contents)) {
    if (other !== field && Array.isArray(values) && values.length > 0) throw bad(`input "${name}": datatype ${datatype} takes its elements in contents.${field}, not contents.${other}`);
  }
  const values = (contents[field] ?? []) as readonly (number | boolean | GrpcInt64)[];
  if (values.length !== count) throw bad(`input "${name}": contents.${field} has ${values.length} elements, shape [${shape.join(', ')}] needs ${count}`);
  const check = (ok: (v: number) => boolean, what: string): void => {
    for (let i = 0; i < values.length; i++) if (!ok(Number(values[i]))) throw bad(`input "${name}": element ${i} is ${String(values[i])}, expected ${what} (datatype ${datatype})`);
  };
  let arr: Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;
  switch (dtype) {
    case 'float32':
      arr = Float32Array.from(values as readonly number[]);
      break;
    case 'float64':
      arr = Float64Array.from(values as readonly number[]);
      break;
    case 'int32':
      arr = Int32Array.from(values as readonly number[]);
      break;
    case 'int64':
      arr = BigInt64Array.from(values as readonly GrpcInt64[], (v) => BigInt(v));
      break;
    case 'uint8':
      check((v) => Number.isInteger(v) && v >= 0 && v <= 255, 'an integer from 0 to 255');
      arr = Uint8Array.from(values as readonly number[]);
      break;
    case 'bool':
      arr = Uint8Array.from(values as readonly boolean[], (v) => (v ? 1 : 0));
      break;
    case 'float16':
      throw bad(`input "${name}": datatype ${datatype} has no typed contents field; send its bytes in raw_input_contents`);
  }
  return new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength);
}

/** One input: from its raw bytes when `raw` is given, else from its typed contents. */
function decodeInput(input: GrpcInferInputTensor, k: number, raw: Uint8Array | undefined): { name: string; tensor: Tensor; isBytes: boolean } {
  const name = input.name ?? '';
  if (name === '') throw bad(`inputs[${k}] needs a name`);
  const datatype = input.datatype ?? '';
  if (datatype === '') throw bad(`input "${name}": datatype is missing`);
  refuseSharedMemory(input.parameters, `input "${name}"`);
  const shape = parseShape(name, input.shape);
  const count = shape.reduce((a, b) => a * b, 1);
  if (datatype === BYTES_DATATYPE) {
    if (raw) return { name, tensor: bytesElement(name, shape, undefined, raw), isBytes: true };
    const elements = input.contents?.bytes_contents ?? [];
    if (count !== 1 || elements.length !== 1) throw bad(`input "${name}": a BYTES input holds one encoded image; shape [${shape.join(', ')}] with ${elements.length} elements in contents.bytes_contents (send one request per image)`);
    const bytes = elements[0]!;
    if (bytes.byteLength === 0) throw bad(`input "${name}": the BYTES element is empty`);
    return { name, tensor: { dtype: 'uint8', shape: [bytes.byteLength], data: bytes }, isBytes: true };
  }
  const dtype = fromKServeDatatype(datatype);
  if (!dtype) throw bad(`input "${name}": datatype ${datatype} is not served (served: ${KSERVE_DATATYPES.join(', ')}, and ${BYTES_DATATYPE} for encoded images)`);
  if (raw) {
    const expected = count * DTYPE_BYTES[dtype];
    if (raw.byteLength !== expected) throw bad(`input "${name}": raw_input_contents has ${raw.byteLength} bytes, ${datatype} shape [${shape.join(', ')}] needs ${expected}`);
    return { name, tensor: { dtype, shape, data: raw }, isBytes: false };
  }
  if (!input.contents) throw bad(`input "${name}": no data (set contents, or raw_input_contents for every input)`);
  return { name, tensor: { dtype, shape, data: tensorDataFromContents(name, datatype, dtype, shape, count, input.contents) }, isBytes: false };
}

/**
 * Decodes a gRPC ModelInferRequest into the request the HTTP API decodes too, so both go through the
 * same checks and stream path. Inputs carry their data either all in `raw_input_contents` (one entry per
 * input, in order: little-endian bytes, row-major; a BYTES input as the protocol's 4-byte length and the
 * bytes) or each in its typed `contents` field (fp32_contents for FP32, int_contents for INT32, …). The
 * `timeout` parameter (microseconds, as Triton's clients send it) sets the request's timeout. Outputs
 * always come back as raw bytes, so `binary_data` settings do not apply. Every problem is a
 * RequestError (CS_ERR_BAD_REQUEST) whose message names the input.
 *
 * @example
 * const req = decodeGrpcInferRequest({ model_name: 'tiny', inputs: [{ name: 'input', datatype: 'FP32', shape: ['1', '16'] }], raw_input_contents: [bytes] });
 * req.inputs.get('input'); // { dtype: 'float32', shape: [1, 16], data: bytes }
 */
export function decodeGrpcInferRequest(message: GrpcModelInferRequest): InferRequest {
  const list = message.inputs ?? [];
  if (list.length === 0) throw bad('the request needs at least one input');
  const raw = message.raw_input_contents ?? [];
  if (raw.length > 0) {
    if (raw.length !== list.length) throw bad(`raw_input_contents has ${raw.length} entries for ${list.length} inputs (one per input, in order)`);
    const typed = list.find((i) => i.contents !== undefined && i.contents !== null && Object.values(i.contents).some((v) => Array.isArray(v) && v.length > 0));
    if (typed) throw bad(`input "${typed.name ?? ''}": contents must not be set when raw_input_contents is used`);
  }
  const inputs = new Map<string, Tensor>();
  const bytesInputs = new Set<string>();
  list.forEach((input, k) => {
    const { name, tensor, isBytes } = decodeInput(input, k, raw[k]);
    if (inputs.has(name)) throw bad(`input "${name}" appears twice`);
    inputs.set(name, tensor);
    if (isBytes) bytesInputs.add(name);
  });
  const seen = new Set<string>();
  const outputs: RequestedOutput[] = (message.outputs ?? []).map((o, k) => {
    const name = o.name ?? '';
    if (name === '') throw bad(`outputs[${k}] needs a name`);
    if (seen.has(name)) throw bad(`output "${name}" is requested twice`);
    seen.add(name);
    if (o.parameters?.classification !== undefined) throw bad(`output "${name}": the classification extension is not supported`);
    refuseSharedMemory(o.parameters, `output "${name}"`);
    return { name, binary: true };
  });
  const timeout = parameterNumber(message.parameters?.timeout);
  if (timeout !== undefined && !(timeout > 0)) throw bad('parameters.timeout must be a positive number of microseconds');
  return {
    id: message.id === undefined || message.id === '' ? undefined : message.id,
    inputs,
    bytesInputs,
    outputs: outputs.length > 0 ? outputs : undefined,
    binaryOutput: true,
    timeoutMs: timeout === undefined ? undefined : Math.max(1, Math.ceil(timeout / 1000)),
  };
}
