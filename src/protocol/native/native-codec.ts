import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as avro from 'avsc';
import { readAvroView } from './avro-view-reader';
import { packageRoot } from '../../package-root';
import { RequestError } from '../../errors';
import { isErrorCode, type ErrorCode } from '../../errors/codes';
import { DTYPE_BYTES, elementCount, type DType, type NamedTensors, type Tensor } from '../../tensor/tensor';

/**
 * The native wire protocol (SPEC §5): a stream entry `uri <uri> data <bytes>` where `data` is a version
 * byte followed by an Avro `Request`; results are a version byte followed by an Avro `Result`. The
 * schemas are the `.avsc` files beside this module, shared with every client language.
 */
export const NATIVE_VERSION = 1;

interface WireTensor {
  name: string;
  dtype: string;
  shape: number[];
  data: Buffer;
}
interface WireRequest {
  inputs: WireTensor[];
  replyTo: string | null;
}
interface WireResult {
  uri: string;
  outputs: WireTensor[];
  error: { code: string; message: string } | null;
}

function loadTypes(): { request: avro.Type; result: avro.Type } {
  const dir = join(packageRoot(), 'src', 'protocol', 'native');
  const registry = {};
  const read = (f: string): avro.Schema => JSON.parse(readFileSync(join(dir, f), 'utf8')) as avro.Schema;
  avro.Type.forSchema(read('tensor.avsc'), { registry });
  return {
    request: avro.Type.forSchema(read('request.avsc'), { registry }),
    result: avro.Type.forSchema(read('result.avsc'), { registry }),
  };
}

let types: { request: avro.Type; result: avro.Type } | undefined;
function avroTypes(): { request: avro.Type; result: avro.Type } {
  return (types ??= loadTypes());
}

/** FLOAT16 came last to the enum (Avro writes a symbol's index): older clients' requests read the same. */
const TO_WIRE: Record<DType, string> = { float32: 'FLOAT32', float64: 'FLOAT64', int32: 'INT32', int64: 'INT64', uint8: 'UINT8', bool: 'BOOL', float16: 'FLOAT16' };
const FROM_WIRE: Record<string, DType> = { FLOAT32: 'float32', FLOAT64: 'float64', INT32: 'int32', INT64: 'int64', UINT8: 'uint8', BOOL: 'bool', FLOAT16: 'float16' };

/**
 * Encodes `value` after the version byte with a single copy of the tensor bytes: into a buffer sized
 * for the payload plus headroom, growing only if the estimate was short.
 */
function encodeVersioned(type: avro.Type, value: unknown, payloadBytes: number, allocate: (bytes: number) => Buffer = (n) => Buffer.allocUnsafe(n)): Buffer {
  let size = payloadBytes + 1024;
  for (;;) {
    const out = allocate(size);
    out[0] = NATIVE_VERSION;
    const end = type.encode(value, out, 1);
    if (end > 0) return out.subarray(0, end);
    size = Math.max(2 * size, -end + 1024); // avsc returns minus the size it needed
  }
}

function payloadBytes(tensors: NamedTensors | undefined): number {
  let n = 0;
  for (const t of tensors?.values() ?? []) n += t.data.byteLength + 16 * (t.shape.length + 4);
  return n;
}

function body(buf: Uint8Array, what: string): Buffer {
  if (buf.length === 0) throw new RequestError('CS_ERR_BAD_REQUEST', `empty ${what}`);
  if (buf[0] !== NATIVE_VERSION) throw new RequestError('CS_ERR_BAD_REQUEST', `unsupported ${what} version ${buf[0]} (this server speaks version ${NATIVE_VERSION})`);
  return Buffer.from(buf.buffer, buf.byteOffset + 1, buf.byteLength - 1);
}

function tensorToWire(name: string, t: Tensor): WireTensor {
  return { name, dtype: TO_WIRE[t.dtype], shape: [...t.shape], data: Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength) };
}

function tensorsFromWire(list: readonly WireTensor[], what: string): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const w of list) {
    const dtype = FROM_WIRE[w.dtype];
    if (!dtype) throw new RequestError('CS_ERR_BAD_REQUEST', `${what} "${w.name}": unknown dtype ${w.dtype}`);
    if (out.has(w.name)) throw new RequestError('CS_ERR_BAD_REQUEST', `${what} "${w.name}" appears twice`);
    if (w.shape.some((d) => !Number.isInteger(d) || d < 0)) throw new RequestError('CS_ERR_BAD_REQUEST', `${what} "${w.name}": invalid shape [${w.shape.join(', ')}]`);
    const expected = elementCount(w.shape) * DTYPE_BYTES[dtype];
    if (w.data.length !== expected) {
      throw new RequestError('CS_ERR_BAD_REQUEST', `${what} "${w.name}": ${w.data.length} bytes do not match ${dtype} shape [${w.shape.join(', ')}] (${expected} bytes)`);
    }
    out.set(w.name, { dtype, shape: w.shape, data: w.data });
  }
  return out;
}

/** Encodes a request's `data` field, into a buffer from `allocate` when given (e.g. a recycled one). */
export function encodeRequest(inputs: NamedTensors, replyTo?: string, allocate?: (bytes: number) => Buffer): Buffer {
  const value: WireRequest = { inputs: [...inputs].map(([n, t]) => tensorToWire(n, t)), replyTo: replyTo ?? null };
  return encodeVersioned(avroTypes().request, value, payloadBytes(inputs), allocate);
}

/** Decodes a request's `data` field; every problem is a RequestError for this request alone. */
export function decodeRequest(data: Uint8Array): { inputs: Map<string, Tensor>; replyTo: string | undefined } {
  let value: WireRequest;
  try {
    value = readAvroView(avroTypes().request, body(data, 'request')) as WireRequest;
  } catch (err) {
    if (err instanceof RequestError) throw err;
    throw new RequestError('CS_ERR_BAD_REQUEST', `malformed request: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (value.inputs.length === 0) throw new RequestError('CS_ERR_BAD_REQUEST', 'request has no input tensors');
  return { inputs: tensorsFromWire(value.inputs, 'input'), replyTo: value.replyTo ?? undefined };
}

/** A result as clients see it. */
export interface NativeResult {
  readonly uri: string;
  readonly outputs: Map<string, Tensor>;
  readonly error: { readonly code: ErrorCode | string; readonly message: string } | undefined;
}

export function encodeResult(uri: string, outputs: NamedTensors | undefined, error: { code: ErrorCode; message: string } | undefined): Buffer {
  const value: WireResult = { uri, outputs: outputs ? [...outputs].map(([n, t]) => tensorToWire(n, t)) : [], error: error ?? null };
  return encodeVersioned(avroTypes().result, value, payloadBytes(outputs) + uri.length + (error ? error.message.length * 3 + 64 : 0));
}

export function decodeResult(data: Uint8Array): NativeResult {
  let value: WireResult;
  try {
    value = readAvroView(avroTypes().result, body(data, 'result')) as WireResult;
  } catch (err) {
    if (err instanceof RequestError) throw err;
    throw new RequestError('CS_ERR_BAD_REQUEST', `malformed result: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  return { uri: value.uri, outputs: tensorsFromWire(value.outputs, 'output'), error: value.error ? { code: isErrorCode(value.error.code) ? value.error.code : value.error.code, message: value.error.message } : undefined };
}
