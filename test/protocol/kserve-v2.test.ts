import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { RequestError } from '../../src/errors';
import { checkInferInputs } from '../../src/protocol/kserve-v2/check-infer-inputs';
import { fromKServeDatatype, kserveDatatypeOfOnnx, KSERVE_DATATYPES, toKServeDatatype } from '../../src/protocol/kserve-v2/datatypes';
import { decodeInferRequest } from '../../src/protocol/kserve-v2/decode-infer-request';
import { encodeInferResponse } from '../../src/protocol/kserve-v2/encode-infer-response';
import type { InferResponse } from '../../src/protocol/kserve-v2/messages';
import { modelMetadata } from '../../src/protocol/kserve-v2/model-metadata';
import type { TensorInfo } from '../../src/runtime/model-runtime';
import { DTYPES, tensorFrom, toTypedArray, type Tensor } from '../../src/tensor/tensor';
import { numberToFloat16, toFloat16 } from '../../src/tensor/float16';

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

function decodeJson(value: unknown) {
  return decodeInferRequest(json(value), undefined);
}

/** Asserts `fn` throws a RequestError with this code whose message matches. */
function rejects(fn: () => unknown, code: string, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof RequestError, `expected a RequestError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.match(err.message, message);
    return true;
  });
}

function values(t: Tensor): unknown[] {
  return Array.from(toTypedArray(t) as ArrayLike<unknown>);
}

describe('KServe v2 datatypes', () => {
  it('maps every served datatype to our dtype and back', () => {
    assert.deepEqual([...KSERVE_DATATYPES].sort(), ['BOOL', 'FP16', 'FP32', 'FP64', 'INT32', 'INT64', 'UINT8']);
    for (const dtype of DTYPES) assert.equal(fromKServeDatatype(toKServeDatatype(dtype)), dtype);
    assert.equal(fromKServeDatatype('FP16'), 'float16');
    assert.equal(fromKServeDatatype('BF16'), undefined);
    assert.equal(fromKServeDatatype('fp32'), undefined, 'names are case-sensitive');
    assert.equal(fromKServeDatatype('toString'), undefined);
  });

  it('names ONNX element types the protocol way', () => {
    assert.equal(kserveDatatypeOfOnnx('FLOAT'), 'FP32');
    assert.equal(kserveDatatypeOfOnnx('FLOAT16'), 'FP16');
    assert.equal(kserveDatatypeOfOnnx('STRING'), 'BYTES');
    assert.equal(kserveDatatypeOfOnnx('COMPLEX64'), 'UNKNOWN');
  });
});

describe('decodeInferRequest', () => {
  it('reads FP16 from JSON numbers (rounded to the nearest float16) and from binary data (2 bytes each, as sent)', () => {
    const req = decodeJson({ inputs: [{ name: 'h', datatype: 'FP16', shape: [1, 4], data: [0.1, -2.5, 70000, 65504] }] });
    const h = req.inputs.get('h')!;
    assert.equal(h.dtype, 'float16');
    assert.deepEqual([...(toTypedArray(h) as Uint16Array)], [0.1, -2.5, 70000, 65504].map(numberToFloat16));
    const bits = toFloat16([1, 2, 3]);
    const json = Buffer.from(JSON.stringify({ inputs: [{ name: 'h', datatype: 'FP16', shape: [3], parameters: { binary_data_size: 6 } }] }));
    const bin = decodeInferRequest(Buffer.concat([json, Buffer.from(bits.buffer)]), json.byteLength).inputs.get('h')!;
    assert.deepEqual({ dtype: bin.dtype, shape: bin.shape, bits: [...(toTypedArray(bin) as Uint16Array)] }, { dtype: 'float16', shape: [3], bits: [...bits] });
    rejects(() => decodeJson({ inputs: [{ name: 'h', datatype: 'FP16', shape: [3], data: [1, 2] }] }), 'CS_ERR_BAD_REQUEST', /data has 2 elements, shape \[3\] needs 3/);
  });

  it('reads every served datatype from flat or nested JSON data, row-major', () => {
    const req = decodeJson({
      id: 'r1',
      inputs: [
        { name: 'f32', datatype: 'FP32', shape: [2, 2], data: [[0.5, 1.5], [2.5, -3]] },
        { name: 'f64', datatype: 'FP64', shape: [1, 2], data: [0.1, 1e300] },
        { name: 'i32', datatype: 'INT32', shape: [3], data: [-2147483648, 0, 2147483647] },
        { name: 'i64', datatype: 'INT64', shape: [2], data: [-(2 ** 53), 2 ** 40] },
        { name: 'u8', datatype: 'UINT8', shape: [1, 3], data: [[0, 128, 255]] },
        { name: 'b', datatype: 'BOOL', shape: [3], data: [true, false, 1] },
      ],
    });
    assert.equal(req.id, 'r1');
    assert.deepEqual([...req.inputs.keys()], ['f32', 'f64', 'i32', 'i64', 'u8', 'b']);
    const get = (n: string): Tensor => req.inputs.get(n)!;
    assert.deepEqual({ dtype: get('f32').dtype, shape: get('f32').shape, v: values(get('f32')) }, { dtype: 'float32', shape: [2, 2], v: [0.5, 1.5, 2.5, -3] });
    assert.deepEqual(values(get('f64')), [0.1, 1e300]);
    assert.deepEqual(values(get('i32')), [-2147483648, 0, 2147483647]);
    assert.deepEqual(values(get('i64')), [-(2n ** 53n), 2n ** 40n]);
    assert.deepEqual(values(get('u8')), [0, 128, 255]);
    assert.equal(get('b').dtype, 'bool');
    assert.deepEqual([...get('b').data], [1, 0, 1]);
    assert.equal(req.outputs, undefined);
    assert.equal(req.binaryOutput, false);
    assert.equal(req.timeoutMs, undefined);
  });

  it('reads binary tensor data after the JSON, in input order, as views of the body', () => {
    const a = new Float32Array([1, 2, 3, 4]);
    const b = new Int32Array([7, 8]);
    const head = json({
      inputs: [
        { name: 'a', datatype: 'FP32', shape: [2, 2], parameters: { binary_data_size: 16 } },
        { name: 'c', datatype: 'UINT8', shape: [1], data: [9] },
        { name: 'b', datatype: 'INT32', shape: [2], parameters: { binary_data_size: 8 } },
      ],
      outputs: [{ name: 'y', parameters: { binary_data: true } }, { name: 'z' }],
      parameters: { binary_data_output: false, timeout: 2500 },
    });
    const body = Buffer.concat([head, Buffer.from(a.buffer), Buffer.from(b.buffer)]);
    const req = decodeInferRequest(body, head.byteLength);
    assert.deepEqual(values(req.inputs.get('a')!), [1, 2, 3, 4]);
    assert.deepEqual(values(req.inputs.get('b')!), [7, 8]);
    assert.deepEqual(values(req.inputs.get('c')!), [9]);
    assert.equal(req.inputs.get('a')!.data.buffer, body.buffer, 'no copy');
    assert.deepEqual(req.outputs, [{ name: 'y', binary: true }, { name: 'z', binary: undefined }]);
    assert.equal(req.timeoutMs, 3, 'Triton timeout is in microseconds');
  });

  it('reads a BYTES input (one encoded image) from base64 JSON or length-prefixed binary data, as a uint8 vector', () => {
    const image = Buffer.from([0xff, 0xd8, 0xff, 0x00, 0x10, 0x0a, 0x0d]);
    const fromJson = decodeJson({ inputs: [{ name: 'img', datatype: 'BYTES', shape: [1], data: [image.toString('base64')] }] });
    assert.deepEqual([...fromJson.bytesInputs], ['img']);
    const t = fromJson.inputs.get('img')!;
    assert.equal(t.dtype, 'uint8');
    assert.deepEqual(t.shape, [image.length]);
    assert.deepEqual([...t.data], [...image]);

    const header = json({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: [1] }, { name: 'img', datatype: 'BYTES', shape: [1, 1], parameters: { binary_data_size: 4 + image.length } }] });
    const length = Buffer.alloc(4);
    length.writeUInt32LE(image.length);
    const fromBinary = decodeInferRequest(Buffer.concat([header, length, image]), header.length);
    assert.deepEqual([...fromBinary.bytesInputs], ['img']);
    assert.deepEqual([...fromBinary.inputs.get('img')!.data], [...image]);
    assert.equal(fromBinary.inputs.get('x')!.dtype, 'float32');

    rejects(() => decodeJson({ inputs: [{ name: 'img', datatype: 'BYTES', shape: [2], data: ['AAAA', 'AAAA'] }] }), 'CS_ERR_BAD_REQUEST', /input "img": a BYTES input holds one encoded image; shape \[2\] has 2 elements/);
    rejects(() => decodeJson({ inputs: [{ name: 'img', datatype: 'BYTES', shape: [1], data: [42] }] }), 'CS_ERR_BAD_REQUEST', /input "img": BYTES data must be one base64 string, got \[42\]/);
    rejects(() => decodeJson({ inputs: [{ name: 'img', datatype: 'BYTES', shape: [1], data: [''] }] }), 'CS_ERR_BAD_REQUEST', /input "img": the BYTES element is empty/);
    const short = json({ inputs: [{ name: 'img', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: 4 + image.length } }] });
    const wrongLength = Buffer.alloc(4);
    wrongLength.writeUInt32LE(image.length + 1);
    rejects(() => decodeInferRequest(Buffer.concat([short, wrongLength, image]), short.length), 'CS_ERR_BAD_REQUEST', /input "img": BYTES binary data must be a 4-byte little-endian length and that many bytes/);
  });

  it('refuses malformed requests with a RequestError naming the input', () => {
    const body = (inputs: unknown[]): unknown => ({ inputs });
    const f32 = (extra: object): object => ({ name: 'x', datatype: 'FP32', shape: [1, 2], data: [1, 2], ...extra });
    rejects(() => decodeInferRequest(Buffer.from('{"inputs": ['), undefined), 'CS_ERR_BAD_REQUEST', /not valid JSON/);
    rejects(() => decodeJson([1]), 'CS_ERR_BAD_REQUEST', /JSON object/);
    rejects(() => decodeJson({}), 'CS_ERR_BAD_REQUEST', /non-empty "inputs"/);
    rejects(() => decodeJson({ id: 3, inputs: [f32({})] }), 'CS_ERR_BAD_REQUEST', /"id" must be a string/);
    rejects(() => decodeJson(body([{ datatype: 'FP32' }])), 'CS_ERR_BAD_REQUEST', /inputs\[0\] must be an object with a "name"/);
    rejects(() => decodeJson(body([f32({}), f32({})])), 'CS_ERR_BAD_REQUEST', /input "x" appears twice/);
    rejects(() => decodeJson(body([f32({ datatype: 'BF16' })])), 'CS_ERR_BAD_REQUEST', /input "x": datatype BF16 is not served \(served: BOOL, UINT8, INT32, INT64, FP16, FP32, FP64, and BYTES for encoded images\)/);
    rejects(() => decodeJson(body([f32({ datatype: 'FP16', data: [1, 'a'] })])), 'CS_ERR_BAD_REQUEST', /input "x": data element 1 is "a", expected a number \(datatype FP16\)/);
    rejects(() => decodeJson(body([f32({ shape: [1, -2] })])), 'CS_ERR_BAD_REQUEST', /input "x": shape must be an array of non-negative integers/);
    rejects(() => decodeJson(body([f32({ data: undefined })])), 'CS_ERR_BAD_REQUEST', /input "x": "data" is missing/);
    rejects(() => decodeJson(body([f32({ data: [1, 2, 3] })])), 'CS_ERR_BAD_REQUEST', /input "x": data has more than the 2 elements of shape \[1, 2\]/);
    rejects(() => decodeJson(body([f32({ data: [1] })])), 'CS_ERR_BAD_REQUEST', /input "x": data has 1 elements, shape \[1, 2\] needs 2/);
    rejects(() => decodeJson(body([f32({ data: [1, 'two'] })])), 'CS_ERR_BAD_REQUEST', /input "x": data element 1 is "two", expected a number \(datatype FP32\)/);
    rejects(() => decodeJson(body([f32({ datatype: 'UINT8', data: [1, 256] })])), 'CS_ERR_BAD_REQUEST', /expected an integer from 0 to 255/);
    rejects(() => decodeJson(body([f32({ datatype: 'INT32', data: [1, 0.5] })])), 'CS_ERR_BAD_REQUEST', /expected an integer from/);
    rejects(() => decodeJson(body([f32({ datatype: 'BOOL', data: [true, 'yes'] })])), 'CS_ERR_BAD_REQUEST', /expected true or false/);
    rejects(() => decodeJson(body([f32({ shape: [1e6, 1e6] })])), 'CS_ERR_BAD_REQUEST', /needs 1000000000000 elements, more than the request holds/);
    rejects(() => decodeJson(body([f32({ data: undefined, parameters: { binary_data_size: 8 } })])), 'CS_ERR_BAD_REQUEST', /needs the Inference-Header-Content-Length header/);
    rejects(() => decodeJson({ inputs: [f32({})], outputs: [{ name: 'y', parameters: { classification: 3 } }] }), 'CS_ERR_BAD_REQUEST', /classification extension is not supported/);
    rejects(() => decodeJson({ inputs: [f32({})], outputs: [{ name: 'y' }, { name: 'y' }] }), 'CS_ERR_BAD_REQUEST', /output "y" is requested twice/);
    rejects(() => decodeJson({ inputs: [f32({ data: undefined, parameters: { shared_memory_region: 'r' } })] }), 'CS_ERR_BAD_REQUEST', /shared memory is not supported/);

    const head = json(body([f32({ data: undefined, parameters: { binary_data_size: 8 } })]));
    rejects(() => decodeInferRequest(Buffer.concat([head, Buffer.alloc(4)]), head.byteLength), 'CS_ERR_BAD_REQUEST', /input "x": the body ends 4 bytes before its binary data does/);
    rejects(() => decodeInferRequest(Buffer.concat([head, Buffer.alloc(12)]), head.byteLength), 'CS_ERR_BAD_REQUEST', /4 bytes of binary data follow the last binary input/);
    rejects(() => decodeInferRequest(head, head.byteLength + 1), 'CS_ERR_BAD_REQUEST', /Inference-Header-Content-Length/);
    const wrongSize = json(body([f32({ data: undefined, parameters: { binary_data_size: 4 } })]));
    rejects(() => decodeInferRequest(Buffer.concat([wrongSize, Buffer.alloc(4)]), wrongSize.byteLength), 'CS_ERR_BAD_REQUEST', /binary_data_size 4 does not match FP32 shape \[1, 2\] \(8 bytes\)/);
  });
});

describe('encodeInferResponse', () => {
  it('writes an FP16 output (a float16 model) as JSON numbers, or as its 2-byte patterns in binary', () => {
    const bits = toFloat16([0.5, -1.25, 65504]);
    const half = new Map<string, Tensor>([['h', tensorFrom(bits, [3])]]);
    const json = encodeInferResponse({ modelName: 'm', outputs: half });
    assert.deepEqual((JSON.parse(json.body.toString()) as InferResponse).outputs, [{ name: 'h', datatype: 'FP16', shape: [3], data: [0.5, -1.25, 65504] }]);
    const bin = encodeInferResponse({ modelName: 'm', outputs: half, binaryOutput: true });
    assert.deepEqual([...new Uint16Array(Uint8Array.from(bin.body.subarray(bin.headerLength)).buffer)], [...bits]);
  });

  const outputs = new Map<string, Tensor>([
    ['y', tensorFrom(new Float32Array([0.1, 2]), [1, 2])],
    ['k', tensorFrom(new BigInt64Array([5n, -1n]), [2])],
    ['m', tensorFrom(new Uint8Array([1, 0]), [2], 'bool')],
  ]);

  it('writes JSON data for every output by default, in the model order', () => {
    const { body, headerLength } = encodeInferResponse({ modelName: 'tiny', modelVersion: '1', id: 'q', outputs });
    assert.equal(headerLength, undefined);
    assert.deepEqual(JSON.parse(body.toString()), {
      model_name: 'tiny',
      model_version: '1',
      id: 'q',
      outputs: [
        { name: 'y', datatype: 'FP32', shape: [1, 2], data: [Math.fround(0.1), 2] },
        { name: 'k', datatype: 'INT64', shape: [2], data: [5, -1] },
        { name: 'm', datatype: 'BOOL', shape: [2], data: [true, false] },
      ],
    });
  });

  it('writes binary outputs after the JSON when asked, per output or for all, and only the requested ones', () => {
    const { body, headerLength } = encodeInferResponse({ modelName: 'tiny', outputs, requested: [{ name: 'm', binary: false }, { name: 'y', binary: undefined }], binaryOutput: true });
    assert.ok(headerLength !== undefined);
    const head = JSON.parse(body.subarray(0, headerLength).toString()) as InferResponse;
    assert.deepEqual(head.outputs, [
      { name: 'm', datatype: 'BOOL', shape: [2], data: [true, false] },
      { name: 'y', datatype: 'FP32', shape: [1, 2], parameters: { binary_data_size: 8 } },
    ]);
    const rest = body.subarray(headerLength);
    assert.deepEqual([...new Float32Array(rest.buffer.slice(rest.byteOffset, rest.byteOffset + rest.byteLength))], [Math.fround(0.1), 2]);
  });

  it('round-trips binary data through decodeInferRequest', () => {
    const { body, headerLength } = encodeInferResponse({ modelName: 'tiny', outputs: new Map([['x', outputs.get('y')!]]), binaryOutput: true });
    // A response's JSON has the same layout as a request's inputs: reuse the decoder on it.
    const head = JSON.parse(body.subarray(0, headerLength).toString()) as InferResponse;
    const asRequest = json({ inputs: head.outputs });
    const req = decodeInferRequest(Buffer.concat([asRequest, body.subarray(headerLength)]), asRequest.byteLength);
    assert.deepEqual(values(req.inputs.get('x')!), [Math.fround(0.1), 2]);
  });

  it('refuses a requested output the result does not have', () => {
    rejects(() => encodeInferResponse({ modelName: 'tiny', outputs, requested: [{ name: 'logits', binary: undefined }] }), 'CS_ERR_BAD_REQUEST', /output "logits" is not an output of model tiny \(outputs: y, k, m\)/);
  });
});

describe('checkInferInputs and model metadata', () => {
  const model: TensorInfo[] = [
    { name: 'input', dtype: 'float32', shape: ['batch', 16] },
    { name: 'mask', dtype: 'bool', shape: [-1, 4] },
  ];
  const input = (shape: number[], dtype: Tensor['dtype'] = 'float32'): Tensor => ({ dtype, shape, data: new Uint8Array(0) });

  it('accepts inputs that match by name, datatype, rank and fixed dimensions', () => {
    checkInferInputs(new Map([['mask', input([3, 4], 'bool')], ['input', input([3, 16])]]), model);
    checkInferInputs(new Map([['x', input([1, 2, 3])]]), [{ name: 'x', dtype: 'float32', shape: [] }]);
  });

  it('names the input and what the model expects when they do not match', () => {
    const ok = input([1, 4], 'bool');
    rejects(() => checkInferInputs(new Map([['input', input([1, 15])], ['mask', ok]]), model), 'CS_ERR_SHAPE', /^input "input": shape \[1, 15\] does not match the model's \[-1, 16\]$/);
    rejects(() => checkInferInputs(new Map([['input', input([16])], ['mask', ok]]), model), 'CS_ERR_SHAPE', /input "input": shape \[16\] does not match the model's \[-1, 16\]/);
    rejects(() => checkInferInputs(new Map([['input', input([1, 16], 'float64')], ['mask', ok]]), model), 'CS_ERR_SHAPE', /input "input": datatype FP64, the model expects FP32/);
    rejects(() => checkInferInputs(new Map([['input', input([1, 16])]]), model), 'CS_ERR_SHAPE', /missing input "mask" BOOL \[-1, 4\]/);
    rejects(() => checkInferInputs(new Map([['input', input([1, 16])], ['mask', ok], ['extra', ok]]), model), 'CS_ERR_SHAPE', /unknown input "extra"; the model's inputs are input FP32 \[-1, 16\]; mask BOOL \[-1, 4\]/);
  });

  it('lets FP16 and UINT8 feed an FP32 input (the TaskManager converts them), and says so when a datatype does not fit', () => {
    checkInferInputs(new Map([['mask', input([3, 4], 'bool')], ['input', input([3, 16], 'float16')]]), model);
    checkInferInputs(new Map([['mask', input([3, 4], 'bool')], ['input', input([3, 16], 'uint8')]]), model);
    const ok = input([1, 4], 'bool');
    rejects(() => checkInferInputs(new Map([['input', input([1, 16], 'int32')], ['mask', ok]]), model), 'CS_ERR_SHAPE', /^input "input": datatype INT32, the model expects FP32 \(or FP16, UINT8, which the server converts to FP32\)$/);
    rejects(() => checkInferInputs(new Map([['input', input([1, 16])], ['mask', input([1, 4], 'uint8')]]), model), 'CS_ERR_SHAPE', /^input "mask": datatype UINT8, the model expects BOOL$/);
    rejects(() => checkInferInputs(new Map([['input', input([1, 16], 'float16')], ['mask', ok]]), [{ name: 'input', dtype: 'float64', shape: [-1, 16] }, model[1]!]), 'CS_ERR_SHAPE', /datatype FP16, the model expects FP64$/);
  });

  it('lets a BYTES input through only where the model takes an encoded image', () => {
    const cnn: TensorInfo[] = [{ name: 'input', dtype: 'float32', shape: ['batch', 3, 224, 224] }];
    const bytes = new Map<string, Tensor>([['input', { dtype: 'uint8', shape: [100], data: new Uint8Array(100) }]]);
    checkInferInputs(bytes, cnn, { sent: new Set(['input']), taken: new Set(['input']) });
    rejects(() => checkInferInputs(bytes, cnn, { sent: new Set(['input']), taken: new Set() }), 'CS_ERR_SHAPE', /input "input": datatype BYTES \(an encoded image\) is taken by the rank-4 inputs of a job with decode: image; this one expects FP32 \[-1, 3, 224, 224\]/);
  });

  it('shows symbolic dimensions as -1 and unserved element types by their protocol name', () => {
    assert.deepEqual(modelMetadata('m', model, [{ name: 'h', dtype: undefined, shape: [-1, 2], elemType: 'FLOAT16' }]), {
      name: 'm',
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: [
        { name: 'input', datatype: 'FP32', shape: [-1, 16] },
        { name: 'mask', datatype: 'BOOL', shape: [-1, 4] },
      ],
      outputs: [{ name: 'h', datatype: 'FP16', shape: [-1, 2] }],
    });
  });
});
