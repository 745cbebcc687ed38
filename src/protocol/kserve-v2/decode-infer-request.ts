import { RequestError } from '../../errors';
import { DTYPE_BYTES, type DType, type Tensor } from '../../tensor/tensor';
import { fromKServeDatatype, KSERVE_DATATYPES } from './datatypes';
import { numberToFloat16 } from '../../tensor/float16';

/** An output the client asked for; `binary` is its `parameters.binary_data` (undefined when not given). */
export interface RequestedOutput {
  readonly name: string;
  readonly binary: boolean | undefined;
}

/** A decoded inference request of the Open Inference Protocol. */
export interface InferRequest {
  /** The request's `id`, echoed in the response. */
  readonly id: string | undefined;
  /**
   * Input tensors by name, in request order. Binary inputs are views of the request body. A BYTES
   * input (one encoded image) is a uint8 tensor of rank 1 holding the element's bytes.
   */
  readonly inputs: Map<string, Tensor>;
  /** The inputs sent as BYTES. */
  readonly bytesInputs: ReadonlySet<string>;
  /** The outputs asked for, in order; undefined means every output. */
  readonly outputs: readonly RequestedOutput[] | undefined;
  /** `parameters.binary_data_output`: outputs without their own `binary_data` come back as binary data. */
  readonly binaryOutput: boolean;
  /** `parameters.timeout` (Triton's, in microseconds) converted to ms; undefined when not given. */
  readonly timeoutMs: number | undefined;
}

function bad(message: string): RequestError {
  return new RequestError('CS_ERR_BAD_REQUEST', message);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNumber(value: unknown): value is number {
  return typeof value === 'number';
}

function describeValue(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

/** Writes one JSON element into the typed array at `i`; returns an error text when the element does not fit the datatype. */
type ElementWriter = (value: unknown, i: number) => string | undefined;

function writerFor(dtype: DType, count: number): { data: Uint8Array; write: ElementWriter } {
  switch (dtype) {
    case 'float32':
    case 'float64': {
      const arr = dtype === 'float32' ? new Float32Array(count) : new Float64Array(count);
      return {
        data: new Uint8Array(arr.buffer),
        write: (v, i) => {
          if (typeof v !== 'number') return 'a number';
          arr[i] = v;
          return undefined;
        },
      };
    }
    case 'int32': {
      const arr = new Int32Array(count);
      return {
        data: new Uint8Array(arr.buffer),
        write: (v, i) => {
          if (typeof v !== 'number' || !Number.isInteger(v) || v < -2147483648 || v > 2147483647) return 'an integer from -2147483648 to 2147483647';
          arr[i] = v;
          return undefined;
        },
      };
    }
    case 'int64': {
      const arr = new BigInt64Array(count);
      return {
        data: new Uint8Array(arr.buffer),
        write: (v, i) => {
          if (typeof v !== 'number' || !Number.isInteger(v) || Math.abs(v) > 2 ** 63) return 'an integer';
          arr[i] = BigInt(v);
          return undefined;
        },
      };
    }
    case 'uint8': {
      const arr = new Uint8Array(count);
      return {
        data: arr,
        write: (v, i) => {
          if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 255) return 'an integer from 0 to 255';
          arr[i] = v;
          return undefined;
        },
      };
    }
    case 'float16': {
      // JSON carries numbers: each is rounded to the nearest float16, as a client's FP16 array would hold it.
      const arr = new Uint16Array(count);
      return {
        data: new Uint8Array(arr.buffer),
        write: (v, i) => {
          if (typeof v !== 'number') return 'a number';
          arr[i] = numberToFloat16(v);
          return undefined;
        },
      };
    }
    case 'bool': {
      const arr = new Uint8Array(count);
      return {
        data: arr,
        write: (v, i) => {
          if (typeof v === 'boolean') arr[i] = v ? 1 : 0;
          else if (v === 0 || v === 1) arr[i] = v;
          else return 'true or false';
          return undefined;
        },
      };
    }
  }
}

/**
 * Reads `data` (flat or nested arrays, row-major) into a tensor of `dtype` with `count` elements.
 * Throws a RequestError naming the input when an element has the wrong type or the count differs.
 */
function tensorDataFromJson(name: string, datatype: string, dtype: DType, shape: readonly number[], count: number, data: unknown): Uint8Array {
  // The common case, as clients send it: a flat array of numbers for a float tensor, copied in one call.
  if ((dtype === 'float32' || dtype === 'float64') && Array.isArray(data) && data.length === count && data.every(isNumber)) {
    const arr = dtype === 'float32' ? new Float32Array(data as number[]) : new Float64Array(data as number[]);
    return new Uint8Array(arr.buffer);
  }
  const { data: bytes, write } = writerFor(dtype, count);
  let n = 0;
  const visit = (value: unknown, depth: number): void => {
    if (Array.isArray(value)) {
      if (depth > 64) throw bad(`input "${name}": data is nested too deeply`);
      for (const item of value) visit(item, depth + 1);
      return;
    }
    if (n >= count) throw bad(`input "${name}": data has more than the ${count} elements of shape [${shape.join(', ')}]`);
    const expected = write(value, n);
    if (expected !== undefined) throw bad(`input "${name}": data element ${n} is ${describeValue(value)}, expected ${expected} (datatype ${datatype})`);
    n++;
  };
  visit(data, 0);
  if (n !== count) throw bad(`input "${name}": data has ${n} elements, shape [${shape.join(', ')}] needs ${count}`);
  return bytes;
}

/** The protocol's datatype of opaque bytes: here, one encoded image (JPEG, PNG, WebP) per input. */
export const BYTES_DATATYPE = 'BYTES';

/**
 * The one element of a BYTES input as a uint8 tensor of rank 1. JSON carries it base64-encoded (a JSON
 * string cannot hold arbitrary bytes); binary data carries it as the protocol's 4-byte little-endian
 * length followed by the bytes.
 */
export function bytesElement(name: string, shape: readonly number[], json: unknown, binary: Uint8Array | undefined): Tensor {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== 1) throw bad(`input "${name}": a BYTES input holds one encoded image; shape [${shape.join(', ')}] has ${count} elements (send one request per image)`);
  let bytes: Uint8Array;
  if (binary) {
    const length = binary.byteLength >= 4 ? Buffer.from(binary.buffer, binary.byteOffset, 4).readUInt32LE(0) : -1;
    if (length !== binary.byteLength - 4) throw bad(`input "${name}": BYTES binary data must be a 4-byte little-endian length and that many bytes (${binary.byteLength} bytes in all)`);
    bytes = binary.subarray(4);
  } else {
    let element = json;
    while (Array.isArray(element) && element.length === 1) element = element[0];
    if (typeof element !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(element)) throw bad(`input "${name}": BYTES data must be one base64 string, got ${describeValue(json)}`);
    bytes = Buffer.from(element, 'base64');
  }
  if (bytes.byteLength === 0) throw bad(`input "${name}": the BYTES element is empty`);
  return { dtype: 'uint8', shape: [bytes.byteLength], data: bytes };
}

function parseShape(name: string, value: unknown): number[] {
  if (!Array.isArray(value) || value.some((d) => typeof d !== 'number' || !Number.isInteger(d) || d < 0)) {
    throw bad(`input "${name}": shape must be an array of non-negative integers, got ${describeValue(value)}`);
  }
  return value as number[];
}

function optionalParameters(value: unknown, what: string): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (!isObject(value)) throw bad(`${what}: parameters must be an object`);
  return value;
}

function parseOutputs(value: unknown): RequestedOutput[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) throw bad('"outputs" must be an array');
  const seen = new Set<string>();
  return value.map((o, k) => {
    if (!isObject(o) || typeof o.name !== 'string' || o.name === '') throw bad(`outputs[${k}] must be an object with a "name"`);
    if (seen.has(o.name)) throw bad(`output "${o.name}" is requested twice`);
    seen.add(o.name);
    const params = optionalParameters(o.parameters, `output "${o.name}"`);
    if (params.classification !== undefined) throw bad(`output "${o.name}": the classification extension is not supported`);
    if (params.shared_memory_region !== undefined) throw bad(`output "${o.name}": shared memory is not supported`);
    const binary = params.binary_data;
    if (binary !== undefined && typeof binary !== 'boolean') throw bad(`output "${o.name}": parameters.binary_data must be true or false`);
    return { name: o.name, binary };
  });
}

/**
 * Decodes an inference request body: a JSON object, optionally followed by binary tensor data (the
 * binary tensor data extension). `headerLength` is the `Inference-Header-Content-Length` header: the
 * JSON's length in bytes when binary data follows it; undefined when the whole body is JSON.
 *
 * Inputs carry `data` as flat or nested arrays in row-major order, or `parameters.binary_data_size`
 * bytes (little-endian, in input order) after the JSON. Supported datatypes: BOOL, UINT8, INT32, INT64,
 * FP16 (JSON numbers are rounded to float16), FP32, FP64, and BYTES with one element: an encoded image for a job with `decode: image` (base64 in
 * JSON, length-prefixed in binary data). Every problem is a RequestError (CS_ERR_BAD_REQUEST) whose message names the input.
 *
 * @example
 * const req = decodeInferRequest(Buffer.from(JSON.stringify({
 *   inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 2], data: [0.5, 1.5] }],
 * })), undefined);
 * req.inputs.get('input'); // { dtype: 'float32', shape: [1, 2], data: <8 bytes> }
 */
export function decodeInferRequest(body: Uint8Array, headerLength: number | undefined): InferRequest {
  if (headerLength !== undefined && (!Number.isInteger(headerLength) || headerLength < 0 || headerLength > body.byteLength)) {
    throw bad(`Inference-Header-Content-Length ${headerLength} is not a length within the ${body.byteLength}-byte body`);
  }
  const jsonEnd = headerLength ?? body.byteLength;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(body.buffer, body.byteOffset, jsonEnd).toString('utf8'));
  } catch (err) {
    throw bad(`the request is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!isObject(parsed)) throw bad('the request must be a JSON object with "inputs"');
  const id = parsed.id;
  if (id !== undefined && typeof id !== 'string') throw bad('"id" must be a string');
  const params = optionalParameters(parsed.parameters, 'request');
  const binaryOutput = params.binary_data_output;
  if (binaryOutput !== undefined && typeof binaryOutput !== 'boolean') throw bad('parameters.binary_data_output must be true or false');
  const timeout = params.timeout;
  if (timeout !== undefined && (typeof timeout !== 'number' || !(timeout > 0))) throw bad('parameters.timeout must be a positive number of microseconds');
  if (!Array.isArray(parsed.inputs) || parsed.inputs.length === 0) throw bad('the request needs a non-empty "inputs" array');

  const inputs = new Map<string, Tensor>();
  const bytesInputs = new Set<string>();
  let offset = jsonEnd;
  parsed.inputs.forEach((raw: unknown, k: number) => {
    if (!isObject(raw) || typeof raw.name !== 'string' || raw.name === '') throw bad(`inputs[${k}] must be an object with a "name"`);
    const name = raw.name;
    if (inputs.has(name)) throw bad(`input "${name}" appears twice`);
    if (typeof raw.datatype !== 'string') throw bad(`input "${name}": "datatype" is missing`);
    const isBytes = raw.datatype === BYTES_DATATYPE;
    const dtype = isBytes ? 'uint8' : fromKServeDatatype(raw.datatype);
    if (!dtype) throw bad(`input "${name}": datatype ${raw.datatype} is not served (served: ${KSERVE_DATATYPES.join(', ')}, and ${BYTES_DATATYPE} for encoded images)`);
    const shape = parseShape(name, raw.shape);
    const count = shape.reduce((a, b) => a * b, 1);
    const inputParams = optionalParameters(raw.parameters, `input "${name}"`);
    if (inputParams.shared_memory_region !== undefined) throw bad(`input "${name}": shared memory is not supported`);
    const binarySize = inputParams.binary_data_size;
    let data: Uint8Array;
    if (binarySize !== undefined) {
      if (headerLength === undefined) throw bad(`input "${name}": parameters.binary_data_size needs the Inference-Header-Content-Length header`);
      if (typeof binarySize !== 'number' || !Number.isInteger(binarySize) || binarySize < 0) throw bad(`input "${name}": parameters.binary_data_size must be a byte count`);
      if (raw.data !== undefined) throw bad(`input "${name}": has both "data" and parameters.binary_data_size`);
      if (isBytes) {
        if (offset + binarySize > body.byteLength) throw bad(`input "${name}": the body ends ${offset + binarySize - body.byteLength} bytes before its binary data does`);
        inputs.set(name, bytesElement(name, shape, undefined, body.subarray(offset, offset + binarySize)));
        bytesInputs.add(name);
        offset += binarySize;
        return;
      }
      const expected = count * DTYPE_BYTES[dtype];
      if (binarySize !== expected) throw bad(`input "${name}": binary_data_size ${binarySize} does not match ${raw.datatype} shape [${shape.join(', ')}] (${expected} bytes)`);
      if (offset + binarySize > body.byteLength) throw bad(`input "${name}": the body ends ${offset + binarySize - body.byteLength} bytes before its binary data does`);
      data = body.subarray(offset, offset + binarySize);
      offset += binarySize;
    } else {
      if (raw.data === undefined) throw bad(`input "${name}": "data" is missing`);
      if (isBytes) {
        inputs.set(name, bytesElement(name, shape, raw.data, undefined));
        bytesInputs.add(name);
        return;
      }
      // Every element takes at least one character of JSON: a larger count cannot be there (and is not allocated).
      if (count > jsonEnd) throw bad(`input "${name}": shape [${shape.join(', ')}] needs ${count} elements, more than the request holds`);
      data = tensorDataFromJson(name, raw.datatype, dtype, shape, count, raw.data);
    }
    inputs.set(name, { dtype, shape, data });
  });
  if (offset !== body.byteLength) throw bad(`${body.byteLength - offset} bytes of binary data follow the last binary input`);
  return {
    id,
    inputs,
    bytesInputs,
    outputs: parseOutputs(parsed.outputs),
    binaryOutput: binaryOutput === true,
    timeoutMs: typeof timeout === 'number' ? Math.max(1, Math.ceil(timeout / 1000)) : undefined,
  };
}
