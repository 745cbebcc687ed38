import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { RequestError } from '../../src/errors';
import { decodeGrpcInferRequest } from '../../src/protocol/kserve-v2/decode-grpc-infer-request';
import { encodeGrpcInferResponse } from '../../src/protocol/kserve-v2/encode-grpc-infer-response';
import { encodeInferResponse } from '../../src/protocol/kserve-v2/encode-infer-response';
import type { GrpcModelInferRequest } from '../../src/protocol/kserve-v2/grpc-messages';
import { tensorFrom, toTypedArray, toValues, type Tensor } from '../../src/tensor/tensor';
import { toFloat16 } from '../../src/tensor/float16';

function bytesOf(arr: Float32Array | Int32Array | BigInt64Array | Float64Array | Uint8Array): Buffer {
  return Buffer.from(arr.buffer, arr.byteOffset, arr.byteLength);
}

describe('decodeGrpcInferRequest', () => {
  it('reads raw_input_contents in input order, as views of the message bytes', () => {
    const x = new Float32Array([1.5, -2, 3, 4]);
    const k = new BigInt64Array([7n, -9007199254740993n]);
    const req = decodeGrpcInferRequest({
      model_name: 'm',
      id: 'r1',
      inputs: [
        { name: 'x', datatype: 'FP32', shape: ['2', '2'] },
        { name: 'k', datatype: 'INT64', shape: [2] },
      ],
      raw_input_contents: [bytesOf(x), bytesOf(k)],
    });
    assert.equal(req.id, 'r1');
    assert.deepEqual([...req.inputs.keys()], ['x', 'k']);
    assert.deepEqual(req.inputs.get('x')!.shape, [2, 2]);
    assert.deepEqual([...toTypedArray(req.inputs.get('x')!)], [...x]);
    assert.deepEqual([...toTypedArray(req.inputs.get('k')!)], [...k]);
    assert.equal(req.outputs, undefined);
    assert.equal(req.timeoutMs, undefined);
  });

  it('reads every served datatype from its typed contents field (int64 from decimal strings, exactly)', () => {
    const req = decodeGrpcInferRequest({
      inputs: [
        { name: 'f', datatype: 'FP32', shape: [2], contents: { fp32_contents: [0.5, -1] } },
        { name: 'd', datatype: 'FP64', shape: [1], contents: { fp64_contents: [0.1] } },
        { name: 'i', datatype: 'INT32', shape: [2], contents: { int_contents: [-3, 4] } },
        { name: 'l', datatype: 'INT64', shape: [1], contents: { int64_contents: ['9007199254740993'] } },
        { name: 'u', datatype: 'UINT8', shape: [2], contents: { uint_contents: [0, 255] } },
        { name: 'b', datatype: 'BOOL', shape: [2], contents: { bool_contents: [true, false] } },
      ],
    });
    const values = (name: string): unknown[] => [...toTypedArray(req.inputs.get(name)!)];
    assert.deepEqual(values('f'), [0.5, -1]);
    assert.deepEqual(values('d'), [0.1]);
    assert.deepEqual(values('i'), [-3, 4]);
    assert.deepEqual(values('l'), [9007199254740993n]);
    assert.deepEqual(values('u'), [0, 255]);
    assert.deepEqual(values('b'), [1, 0]);
    assert.equal(req.inputs.get('b')!.dtype, 'bool');
  });

  it('takes a BYTES input (one encoded image) from bytes_contents or length-prefixed raw bytes', () => {
    const image = Buffer.from([0xff, 0xd8, 0xff, 0xe0]);
    const typed = decodeGrpcInferRequest({ inputs: [{ name: 'img', datatype: 'BYTES', shape: [1], contents: { bytes_contents: [image] } }] });
    assert.deepEqual(Buffer.from(typed.inputs.get('img')!.data), image);
    assert.ok(typed.bytesInputs.has('img'));
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32LE(image.byteLength);
    const raw = decodeGrpcInferRequest({ inputs: [{ name: 'img', datatype: 'BYTES', shape: [1] }], raw_input_contents: [Buffer.concat([prefix, image])] });
    assert.deepEqual(Buffer.from(raw.inputs.get('img')!.data), image);
  });

  it('reads requested outputs and the timeout parameter (microseconds, as Triton clients send it)', () => {
    const req = decodeGrpcInferRequest({
      inputs: [{ name: 'x', datatype: 'FP32', shape: [1], contents: { fp32_contents: [1] } }],
      outputs: [{ name: 'b' }, { name: 'a' }],
      parameters: { timeout: { parameter_choice: 'int64_param', int64_param: '2500000' } },
    });
    assert.deepEqual(req.outputs, [
      { name: 'b', binary: true },
      { name: 'a', binary: true },
    ]);
    assert.equal(req.timeoutMs, 2500);
  });

  it('refuses malformed requests with a RequestError naming the input', () => {
    const cases: [GrpcModelInferRequest, RegExp][] = [
      [{ inputs: [] }, /at least one input/],
      [{ inputs: [{ name: 'x', datatype: 'FP32', shape: [2] }], raw_input_contents: [Buffer.alloc(4)] }, /input "x": raw_input_contents has 4 bytes, FP32 shape \[2\] needs 8/],
      [{ inputs: [{ name: 'x', datatype: 'FP32', shape: [1] }, { name: 'y', datatype: 'FP32', shape: [1] }], raw_input_contents: [Buffer.alloc(4)] }, /raw_input_contents has 1 entries for 2 inputs/],
      [{ inputs: [{ name: 'x', datatype: 'BF16', shape: [1] }], raw_input_contents: [Buffer.alloc(2)] }, /input "x": datatype BF16 is not served/],
      [{ inputs: [{ name: 'x', datatype: 'FP16', shape: [1], contents: { fp32_contents: [1] } }] }, /input "x": datatype FP16 has no typed contents field; send its bytes in raw_input_contents/],
      [{ inputs: [{ name: 'x', datatype: 'FP32', shape: [1] }] }, /input "x": no data/],
      [{ inputs: [{ name: 'x', datatype: 'FP32', shape: [2], contents: { fp32_contents: [1] } }] }, /input "x": contents.fp32_contents has 1 elements, shape \[2\] needs 2/],
      [{ inputs: [{ name: 'x', datatype: 'UINT8', shape: [1], contents: { uint_contents: [300] } }] }, /input "x": element 0 is 300, expected an integer from 0 to 255/],
      [{ inputs: [{ name: 'x', datatype: 'FP32', shape: ['-1'], contents: { fp32_contents: [1] } }] }, /input "x": shape must be non-negative integers/],
      [{ inputs: [{ name: 'x', datatype: 'FP32', shape: [1], contents: { fp32_contents: [1] } }, { name: 'x', datatype: 'FP32', shape: [1], contents: { fp32_contents: [1] } }] }, /input "x" appears twice/],
      [{ inputs: [{ name: 'x', datatype: 'FP32', shape: [1], parameters: { shared_memory_region: { string_param: 'r' } } }] }, /input "x": shared memory is not supported/],
      [{ inputs: [{ name: 'x', datatype: 'FP32', shape: [1], contents: { fp32_contents: [1] } }], outputs: [{ name: 'y' }, { name: 'y' }] }, /output "y" is requested twice/],
    ];
    for (const [message, expected] of cases) {
      assert.throws(() => decodeGrpcInferRequest(message), (err: unknown) => err instanceof RequestError && err.code === 'CS_ERR_BAD_REQUEST' && expected.test(err.message), JSON.stringify(message));
    }
  });
});

describe('encodeGrpcInferResponse', () => {
  const outputs = new Map<string, Tensor>([
    ['y', tensorFrom(new Float32Array([0.25, 2]), [1, 2])],
    ['k', tensorFrom(new Int32Array([5, -1]), [2])],
  ]);

  it('answers every output as raw bytes, in the model order, with the request id', () => {
    const res = encodeGrpcInferResponse({ modelName: 'm', modelVersion: '1', id: 'q', outputs, requested: undefined });
    assert.deepEqual(res.outputs, [
      { name: 'y', datatype: 'FP32', shape: [1, 2] },
      { name: 'k', datatype: 'INT32', shape: [2] },
    ]);
    assert.equal(res.id, 'q');
    assert.deepEqual(res.raw_output_contents.map((b) => [...b]), [[...bytesOf(new Float32Array([0.25, 2]))], [...bytesOf(new Int32Array([5, -1]))]]);
  });

  it('answers only the requested outputs, in request order, and refuses an unknown one', () => {
    const res = encodeGrpcInferResponse({ modelName: 'm', modelVersion: '1', id: undefined, outputs, requested: [{ name: 'k', binary: true }] });
    assert.deepEqual(res.outputs.map((o) => o.name), ['k']);
    assert.equal(res.id, '');
    assert.throws(() => encodeGrpcInferResponse({ modelName: 'm', modelVersion: '1', id: undefined, outputs, requested: [{ name: 'z', binary: true }] }), /output "z" is not an output of model m/);
  });
});

describe('encodeInferResponse writes the JSON JSON.stringify would', () => {
  it('for every served datatype, odd names, -0, NaN and ±Infinity (null, as JSON.stringify writes them)', () => {
    const cases: Tensor[] = [
      tensorFrom(new Float32Array([0.1, -0, 1e-45, 3.4028234663852886e38, -7.5]), [5]),
      tensorFrom(new Float64Array([0.1, Number.NaN, Infinity, -Infinity, 1e300]), [5]),
      tensorFrom(new Int32Array([-2147483648, 0, 2147483647]), [3]),
      tensorFrom(new BigInt64Array([-(2n ** 53n), 0n, 2n ** 53n]), [3]),
      tensorFrom(new Uint8Array([0, 255]), [2]),
      tensorFrom(new Uint8Array([1, 0, 1]), [3], 'bool'),
      tensorFrom(new Float32Array([]), [0, 4]),
      { dtype: 'float16', shape: [3], data: new Uint8Array(toFloat16(new Float32Array([0.5, -2, 65504])).buffer) },
    ];
    for (const tensor of cases) {
      const name = 'out "π"\n';
      const { body } = encodeInferResponse({ modelName: 'm\\1', modelVersion: '1', id: 'id"x', outputs: new Map([[name, tensor]]) });
      const arr = toValues(tensor);
      const data = tensor.dtype === 'bool' ? Array.from(tensor.data, (b) => b !== 0) : arr instanceof BigInt64Array ? Array.from(arr, Number) : Array.from(arr);
      const datatype = { float32: 'FP32', float64: 'FP64', int32: 'INT32', int64: 'INT64', uint8: 'UINT8', bool: 'BOOL', float16: 'FP16' }[tensor.dtype];
      const expected = JSON.stringify({ model_name: 'm\\1', model_version: '1', id: 'id"x', outputs: [{ name, datatype, shape: tensor.shape, data }] });
      assert.equal(body.toString(), expected);
    }
  });
});
