import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { packageRoot } from '../../src/package-root';
import { join } from 'node:path';
import * as avro from 'avsc';
import { decodeRequest, decodeResult, encodeRequest, encodeResult, NATIVE_VERSION } from '../../src/protocol/native/native-codec';
import { readAvroView } from '../../src/protocol/native/avro-view-reader';
import { RequestError } from '../../src/errors';
import { DTYPE_BYTES, tensorFrom, toTypedArray, type DType, type Tensor, type TypedArray } from '../../src/tensor/tensor';

// ---------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------

const SCHEMA_DIR = join(packageRoot(), 'src', 'protocol', 'native');
const FIXTURE_DIR = join(packageRoot(), 'test', 'fixtures', 'native');

/** The Avro types, loaded the way native-codec loads them: the three .avsc files with one shared registry. */
function loadTypes(): { tensor: avro.Type; request: avro.Type; result: avro.Type } {
  const registry = {};
  const read = (f: string): avro.Schema => JSON.parse(readFileSync(join(SCHEMA_DIR, f), 'utf8')) as avro.Schema;
  const tensor = avro.Type.forSchema(read('tensor.avsc'), { registry });
  return {
    tensor,
    request: avro.Type.forSchema(read('request.avsc'), { registry }),
    result: avro.Type.forSchema(read('result.avsc'), { registry }),
  };
}
const TYPES = loadTypes();

interface RawTensor {
  name: string;
  dtype: string;
  shape: number[];
  data: Buffer;
}

/** A request body written by avsc itself (bypassing encodeRequest's checks), with the version byte. */
function rawRequest(inputs: RawTensor[], replyTo: string | null = null, version = NATIVE_VERSION): Buffer {
  return Buffer.concat([Buffer.from([version]), TYPES.request.toBuffer({ inputs, replyTo })]);
}

/** Avro zigzag varint of a (safe) integer, for hand-forged bytes. */
function zz(n: number): number[] {
  let v = n >= 0 ? n * 2 : -n * 2 - 1;
  const out: number[] = [];
  for (;;) {
    const low = v % 128;
    v = Math.floor(v / 128);
    if (v === 0) {
      out.push(low);
      return out;
    }
    out.push(low | 0x80);
  }
}
const str = (s: string): number[] => {
  const b = Buffer.from(s, 'utf8');
  return [...zz(b.length), ...b];
};

/** One tensor in Avro bytes, with a raw enum index so that unknown indices can be forged. */
function forgedTensor(name: string, dtypeIndex: number, shape: number[], data: number[]): number[] {
  const shapeBytes = shape.length === 0 ? [0] : [...zz(shape.length), ...shape.flatMap(zz), 0];
  return [...str(name), ...zz(dtypeIndex), ...shapeBytes, ...zz(data.length), ...data];
}
function forgedRequest(tensors: number[][], replyTo?: string): Buffer {
  const arr = tensors.length === 0 ? [0] : [...zz(tensors.length), ...tensors.flat(), 0];
  const reply = replyTo === undefined ? [0] : [2, ...str(replyTo)];
  return Buffer.from([NATIVE_VERSION, ...arr, ...reply]);
}

/** Asserts that decoding `bytes` throws a RequestError CS_ERR_BAD_REQUEST whose message matches `pattern`. */
function assertBadRequest(bytes: Uint8Array, pattern?: RegExp): void {
  assert.throws(
    () => decodeRequest(bytes),
    (err: unknown) => {
      assert.ok(err instanceof RequestError, `expected a RequestError, got ${String(err)}`);
      assert.equal(err.code, 'CS_ERR_BAD_REQUEST');
      assert.equal(err.retriable, false);
      if (pattern) assert.match(err.message, pattern);
      return true;
    },
  );
}

function sameTensor(actual: Tensor | undefined, expected: Tensor, what: string): void {
  assert.ok(actual, `${what} is missing`);
  assert.equal(actual.dtype, expected.dtype, `${what} dtype`);
  assert.deepEqual([...actual.shape], [...expected.shape], `${what} shape`);
  assert.deepEqual(Buffer.from(actual.data.buffer, actual.data.byteOffset, actual.data.byteLength), Buffer.from(expected.data.buffer, expected.data.byteOffset, expected.data.byteLength), `${what} bytes`);
}

/** Turns avsc's record instances (their own prototypes) into plain objects, keeping Buffers as they are. */
function plain(v: unknown): unknown {
  if (Buffer.isBuffer(v)) return Buffer.from(v); // a fresh copy, same content, plain Buffer prototype
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = plain(x);
    return out;
  }
  return v;
}

/** Deterministic pseudo-random bytes (no Math.random, so a failure reproduces). */
function seededBytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = s & 0xff;
  }
  return out;
}

function sampleTensor(dtype: DType, shape: number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  let data: TypedArray;
  switch (dtype) {
    case 'float32':
      data = Float32Array.from({ length: n }, (_, i) => (i - 3) * 0.5 + 1e-3);
      break;
    case 'float64':
      data = Float64Array.from({ length: n }, (_, i) => (i - 3) / 7);
      break;
    case 'int32':
      data = Int32Array.from({ length: n }, (_, i) => (i % 2 === 0 ? i * 1000 : -i * 1000 - 2 ** 30));
      break;
    case 'int64':
      data = BigInt64Array.from({ length: n }, (_, i) => (i % 2 === 0 ? BigInt(i) * 2n ** 40n : -(2n ** 62n) - BigInt(i)));
      break;
    case 'uint8':
      data = Uint8Array.from({ length: n }, (_, i) => (i * 37) & 0xff);
      break;
    case 'bool':
      data = Uint8Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 1 : 0));
      break;
    case 'float16':
      data = Uint16Array.from({ length: n }, (_, i) => (i * 0x1357) & 0xffff); // every pattern kind: NaNs, infinities, subnormals
      break;
  }
  return tensorFrom(data, shape, dtype);
}

const DTYPES_UNDER_TEST: DType[] = ['float32', 'float64', 'int32', 'int64', 'uint8', 'bool', 'float16'];
const SHAPES: number[][] = [[], [1], [5], [2, 3], [0, 4], [2, 0], [2, 1, 3], [1, 2, 2, 2]];

// ---------------------------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------------------------

describe('native codec: request round trip', () => {
  for (const dtype of DTYPES_UNDER_TEST) {
    for (const shape of SHAPES) {
      test(`${dtype} [${shape.join(', ')}]`, () => {
        const t = sampleTensor(dtype, shape);
        const bytes = encodeRequest(new Map([['in', t]]));
        assert.equal(bytes[0], NATIVE_VERSION);
        const { inputs, replyTo } = decodeRequest(bytes);
        assert.equal(replyTo, undefined);
        assert.deepEqual([...inputs.keys()], ['in']);
        sameTensor(inputs.get('in'), t, 'in');
      });
    }
  }

  test('typed values survive: BigInt64Array int64 and float64 read back equal element by element', () => {
    const big = new BigInt64Array([0n, 1n, -1n, 2n ** 63n - 1n, -(2n ** 63n), 123456789012345678n]);
    const f64 = new Float64Array([0, -0, Math.PI, -1e308, 5e-324, Infinity, -Infinity]);
    const { inputs } = decodeRequest(encodeRequest(new Map([['big', tensorFrom(big, [2, 3])], ['f64', tensorFrom(f64, [7])]])));
    assert.deepEqual([...(toTypedArray(inputs.get('big')!) as BigInt64Array)], [...big]);
    const back = toTypedArray(inputs.get('f64')!) as Float64Array;
    assert.deepEqual([...back], [...f64]);
    assert.ok(Object.is(back[1], -0), 'negative zero keeps its sign');
    const nan = decodeRequest(encodeRequest(new Map([['n', tensorFrom(new Float32Array([NaN]), [1])]]))).inputs.get('n')!;
    assert.ok(Number.isNaN((toTypedArray(nan) as Float32Array)[0]));
  });

  test('several tensors keep their names, order and dtypes', () => {
    const tensors = new Map<string, Tensor>(DTYPES_UNDER_TEST.map((d, i) => [`t${i}_${d}`, sampleTensor(d, [2, i + 1])]));
    const { inputs } = decodeRequest(encodeRequest(tensors));
    assert.deepEqual([...inputs.keys()], [...tensors.keys()]);
    for (const [name, t] of tensors) sameTensor(inputs.get(name), t, name);
  });

  test('non-ASCII tensor names round-trip', () => {
    const { inputs } = decodeRequest(encodeRequest(new Map([['entrée-图像-🙂', sampleTensor('uint8', [3])]])));
    assert.deepEqual([...inputs.keys()], ['entrée-图像-🙂']);
  });

  test('replyTo present, absent and empty', () => {
    const t = new Map([['x', sampleTensor('float32', [1, 2])]]);
    assert.equal(decodeRequest(encodeRequest(t, 'cs:reply:client-42')).replyTo, 'cs:reply:client-42');
    assert.equal(decodeRequest(encodeRequest(t)).replyTo, undefined);
    assert.equal(decodeRequest(encodeRequest(t, undefined)).replyTo, undefined);
    assert.equal(decodeRequest(encodeRequest(t, '')).replyTo, '');
    // absent and present really differ on the wire (the union branch)
    assert.notDeepEqual(encodeRequest(t), encodeRequest(t, ''));
  });

  test('a 1 MB tensor round-trips byte for byte', () => {
    const bytes = seededBytes(1 << 20, 7);
    const t = tensorFrom(new Float32Array(bytes.buffer), [256, 1024]);
    const encoded = encodeRequest(new Map([['big', t]]), 'r');
    assert.ok(encoded.length > 1 << 20);
    const { inputs, replyTo } = decodeRequest(encoded);
    assert.equal(replyTo, 'r');
    sameTensor(inputs.get('big'), t, 'big');
  });

  test('input tensors that are views into a larger buffer encode only their own bytes', () => {
    const backing = Float32Array.from({ length: 16 }, (_, i) => i);
    const view = new Float32Array(backing.buffer, 4 * 5, 6); // elements 5..10
    const { inputs } = decodeRequest(encodeRequest(new Map([['v', tensorFrom(view, [2, 3])]])));
    assert.deepEqual([...(toTypedArray(inputs.get('v')!) as Float32Array)], [5, 6, 7, 8, 9, 10]);
  });

  test('a name longer than the encoder size estimate still encodes (buffer growth path)', () => {
    const name = 'n'.repeat(20_000);
    const { inputs } = decodeRequest(encodeRequest(new Map([[name, sampleTensor('int32', [1])]]), 'x'.repeat(30_000)));
    assert.deepEqual([...inputs.keys()], [name]);
  });

  test('decoded tensor data is a view of the input buffer, not a copy', () => {
    const encoded = encodeRequest(new Map([['a', sampleTensor('float32', [4, 4])], ['b', sampleTensor('int64', [4])]]));
    // Put the request at an odd offset in a larger buffer, as a Redis reply buffer might.
    const backing = new ArrayBuffer(encoded.length + 11);
    const input = new Uint8Array(backing, 3, encoded.length);
    input.set(encoded);
    const { inputs } = decodeRequest(input);
    for (const [name, t] of inputs) {
      assert.equal(t.data.buffer, backing, `${name}: same ArrayBuffer`);
      assert.ok(t.data.byteOffset >= 3 && t.data.byteOffset + t.data.byteLength <= 3 + encoded.length, `${name}: inside the request`);
    }
    // A write through the input is visible in the decoded tensor: it really is shared memory.
    const a = inputs.get('a')!;
    const before = a.data[0];
    new Uint8Array(backing)[a.data.byteOffset] = (before! + 1) & 0xff;
    assert.equal(a.data[0], (before! + 1) & 0xff);
  });

  test('decodeRequest accepts a plain Uint8Array as well as a Buffer', () => {
    const encoded = encodeRequest(new Map([['x', sampleTensor('uint8', [3])]]));
    const { inputs } = decodeRequest(new Uint8Array(encoded));
    sameTensor(inputs.get('x'), sampleTensor('uint8', [3]), 'x');
  });
});

describe('native codec: result round trip', () => {
  test('outputs of every dtype round-trip with the uri', () => {
    const outputs = new Map<string, Tensor>(DTYPES_UNDER_TEST.map((d) => [`out_${d}`, sampleTensor(d, [3, 2])]));
    const bytes = encodeResult('uri-1', outputs, undefined);
    assert.equal(bytes[0], NATIVE_VERSION);
    const r = decodeResult(bytes);
    assert.equal(r.uri, 'uri-1');
    assert.equal(r.error, undefined);
    assert.deepEqual([...r.outputs.keys()], [...outputs.keys()]);
    for (const [name, t] of outputs) sameTensor(r.outputs.get(name), t, name);
  });

  test('an error result round-trips code and message, with no outputs', () => {
    const message = 'input x: shape [1, 3], expected float32 [?, 4] — ünïcode ok';
    const r = decodeResult(encodeResult('uri-err', undefined, { code: 'CS_ERR_SHAPE', message }));
    assert.equal(r.uri, 'uri-err');
    assert.deepEqual(r.error, { code: 'CS_ERR_SHAPE', message });
    assert.equal(r.outputs.size, 0);
  });

  test('a long error message (beyond the size estimate) round-trips', () => {
    const message = '€'.repeat(5000);
    const r = decodeResult(encodeResult('u', undefined, { code: 'CS_ERR_INFERENCE', message }));
    assert.deepEqual(r.error, { code: 'CS_ERR_INFERENCE', message });
  });

  test('an empty output map and a scalar output', () => {
    assert.equal(decodeResult(encodeResult('u', new Map(), undefined)).outputs.size, 0);
    const scalar = sampleTensor('float64', []);
    sameTensor(decodeResult(encodeResult('u', new Map([['s', scalar]]), undefined)).outputs.get('s'), scalar, 's');
  });

  test('a result from a wrong version is rejected with a RequestError', () => {
    const bytes = Buffer.from(encodeResult('u', undefined, { code: 'CS_ERR_INTERNAL', message: 'm' }));
    bytes[0] = NATIVE_VERSION + 1;
    assert.throws(() => decodeResult(bytes), (err: unknown) => err instanceof RequestError && err.code === 'CS_ERR_BAD_REQUEST');
    assert.throws(() => decodeResult(new Uint8Array(0)), (err: unknown) => err instanceof RequestError && err.code === 'CS_ERR_BAD_REQUEST');
  });
});

// ---------------------------------------------------------------------------------------------------
// Golden fixture
// ---------------------------------------------------------------------------------------------------

describe('native codec: FLOAT16 is the last DType symbol', () => {
  test('index 6 is float16 (2 bytes an element); the older symbols keep their indices, so older clients read the same', () => {
    const half = decodeRequest(forgedRequest([forgedTensor('h', 6, [2], [0x00, 0x3c, 0x00, 0xc0])])).inputs.get('h')!;
    assert.deepEqual({ dtype: half.dtype, shape: half.shape, bytes: [...half.data] }, { dtype: 'float16', shape: [2], bytes: [0x00, 0x3c, 0x00, 0xc0] });
    const order: DType[] = ['float32', 'float64', 'int32', 'int64', 'uint8', 'bool', 'float16'];
    order.forEach((dtype, index) => {
      const bytes = Array.from({ length: DTYPE_BYTES[dtype] }, () => 0);
      assert.equal(decodeRequest(forgedRequest([forgedTensor('x', index, [1], bytes)])).inputs.get('x')!.dtype, dtype);
      assert.deepEqual([...encodeRequest(new Map([['x', { dtype, shape: [1], data: new Uint8Array(bytes) }]]))], [...forgedRequest([forgedTensor('x', index, [1], bytes)])]);
    });
  });
});

describe('native codec: golden fixture request-v1.hex', () => {
  // Generated once by encodeRequest and checked in; a change to the wire format makes this fail.
  const golden = Buffer.from(readFileSync(join(FIXTURE_DIR, 'request-v1.hex'), 'utf8').replace(/\s+/g, ''), 'hex');
  const expectedInputs = new Map<string, Tensor>([
    ['x', tensorFrom(new Float32Array([1.5, -2, 0.25, 1024]), [2, 2])],
    ['ids', tensorFrom(new BigInt64Array([7n, -1n]), [2])],
  ]);

  test('decodes to the recorded tensors and replyTo', () => {
    assert.equal(golden[0], 1, 'version byte');
    const { inputs, replyTo } = decodeRequest(golden);
    assert.equal(replyTo, 'reply:golden');
    assert.deepEqual([...inputs.keys()], ['x', 'ids']);
    const x = inputs.get('x')!;
    assert.equal(x.dtype, 'float32');
    assert.deepEqual(x.shape, [2, 2]);
    assert.deepEqual([...(toTypedArray(x) as Float32Array)], [1.5, -2, 0.25, 1024]);
    const ids = inputs.get('ids')!;
    assert.equal(ids.dtype, 'int64');
    assert.deepEqual(ids.shape, [2]);
    assert.deepEqual([...(toTypedArray(ids) as BigInt64Array)], [7n, -1n]);
  });

  test('encodeRequest of the same tensors still produces exactly the recorded bytes', () => {
    assert.equal(encodeRequest(expectedInputs, 'reply:golden').toString('hex'), golden.toString('hex'));
  });

  test('avsc decodes the recorded bytes to the same value (the .avsc files did not drift)', () => {
    assert.deepEqual(plain(TYPES.request.fromBuffer(golden.subarray(1))), plain(readAvroView(TYPES.request, golden.subarray(1))));
  });
});

// ---------------------------------------------------------------------------------------------------
// readAvroView against avsc
// ---------------------------------------------------------------------------------------------------

describe('readAvroView gives the same value as avsc fromBuffer', () => {
  const requests: [string, Buffer][] = [
    ['one float32 tensor, no replyTo', encodeRequest(new Map([['x', sampleTensor('float32', [2, 3])]]))],
    ['every dtype, with replyTo', encodeRequest(new Map(DTYPES_UNDER_TEST.map((d) => [d, sampleTensor(d, [1, 2])])), 'reply')],
    ['scalar and zero-size', encodeRequest(new Map([['s', sampleTensor('int32', [])], ['z', sampleTensor('float32', [0, 4])]]))],
    ['large dims in shape', rawRequest([{ name: 'a', dtype: 'UINT8', shape: [2 ** 40, -5, 0, 2 ** 31], data: Buffer.alloc(3) }], 'é')],
    ['no inputs (valid Avro, rejected later by decodeRequest)', rawRequest([])],
  ];
  for (const [name, bytes] of requests) {
    test(`Request: ${name}`, () => {
      const body = bytes.subarray(1);
      const expected = TYPES.request.fromBuffer(body) as unknown;
      const actual = readAvroView(TYPES.request, body);
      assert.deepEqual(plain(actual), plain(expected));
      // and avsc accepts what the view reader produced, re-encoding it to the same bytes
      assert.ok(TYPES.request.isValid(actual));
      assert.deepEqual(TYPES.request.toBuffer(actual), body);
    });
  }

  const results: [string, Buffer][] = [
    ['outputs', encodeResult('uri-α', new Map([['o', sampleTensor('float64', [2, 2])], ['p', sampleTensor('bool', [3])]]), undefined)],
    ['error', encodeResult('uri-β', undefined, { code: 'CS_ERR_USER_OPERATOR', message: 'step "s": boom' })],
  ];
  for (const [name, bytes] of results) {
    test(`Result: ${name}`, () => {
      const body = bytes.subarray(1);
      assert.deepEqual(plain(readAvroView(TYPES.result, body)), plain(TYPES.result.fromBuffer(body)));
    });
  }

  test('Tensor type alone', () => {
    const body = TYPES.tensor.toBuffer({ name: 't', dtype: 'BOOL', shape: [3], data: Buffer.from([1, 0, 1]) });
    assert.deepEqual(plain(readAvroView(TYPES.tensor, body)), plain(TYPES.tensor.fromBuffer(body)));
  });

  test('every Avro type the reader claims to cover (null, boolean, int, long, float, double, string, bytes, fixed, enum, array, map, record, union)', () => {
    const type = avro.Type.forSchema(
      {
        type: 'record',
        name: 'All',
        fields: [
          { name: 'n', type: 'null' },
          { name: 'b', type: 'boolean' },
          { name: 'i', type: 'int' },
          { name: 'l', type: 'long' },
          { name: 'f', type: 'float' },
          { name: 'd', type: 'double' },
          { name: 's', type: 'string' },
          { name: 'by', type: 'bytes' },
          { name: 'fx', type: { type: 'fixed', name: 'F3', size: 3 } },
          { name: 'e', type: { type: 'enum', name: 'E', symbols: ['A', 'B', 'C'] } },
          { name: 'a', type: { type: 'array', items: 'int' } },
          { name: 'm', type: { type: 'map', values: 'string' } },
          { name: 'r', type: { type: 'record', name: 'Inner', fields: [{ name: 'x', type: 'double' }] } },
          { name: 'u', type: ['null', 'string', 'long'] },
          { name: 'ua', type: { type: 'array', items: ['null', 'Inner'] } },
        ],
      },
      { wrapUnions: 'never' },
    );
    const values = [
      { n: null, b: true, i: -2147483648, l: -(2 ** 50) - 3, f: 1.5, d: -Math.E, s: 'héllo', by: Buffer.from([0, 255, 1]), fx: Buffer.from('abc'), e: 'C', a: [1, -1, 2 ** 31 - 1], m: { k: 'v', '': 'empty', ключ: 'значение' }, r: { x: 0.1 }, u: 'str', ua: [null, { x: 2 }] },
      { n: null, b: false, i: 0, l: 0, f: -0.1, d: 1e-300, s: '', by: Buffer.alloc(0), fx: Buffer.from([9, 8, 7]), e: 'A', a: [], m: {}, r: { x: -0 }, u: null, ua: [] },
      { n: null, b: false, i: 63, l: 2 ** 52 - 1, f: 3.4e38, d: NaN, s: 'x'.repeat(300), by: Buffer.alloc(200, 7), fx: Buffer.alloc(3), e: 'B', a: [64, -64, -65], m: { a: 'b' }, r: { x: Infinity }, u: 12345678901, ua: [null] },
    ];
    for (const v of values) {
      const buf = type.toBuffer(v);
      const expected = plain(type.fromBuffer(buf));
      assert.deepEqual(plain(readAvroView(type, buf)), expected);
      // the same bytes at an odd offset inside a larger buffer (floats and doubles read relative to the view)
      const backing = new Uint8Array(buf.length + 13).fill(0xab);
      backing.set(buf, 5);
      assert.deepEqual(plain(readAvroView(type, backing.subarray(5, 5 + buf.length))), expected);
    }
  });

  test('block-encoded arrays and maps (negative counts with byte sizes, several blocks) read like avsc reads them', () => {
    const arrType = avro.Type.forSchema({ type: 'array', items: 'int' });
    // block 1: count -2 (zz 3), size 2, items 1, 2; block 2: count 1, item 3; end
    const arr = Buffer.from([...zz(-2), ...zz(2), ...zz(1), ...zz(2), ...zz(1), ...zz(3), 0]);
    assert.deepEqual(arrType.fromBuffer(arr), [1, 2, 3]);
    assert.deepEqual(readAvroView(arrType, arr), [1, 2, 3]);

    const mapType = avro.Type.forSchema({ type: 'map', values: 'long' });
    const entry = (k: string, v: number): number[] => [...str(k), ...zz(v)];
    const e1 = entry('a', 1);
    const map = Buffer.from([...zz(-1), ...zz(e1.length), ...e1, ...zz(1), ...entry('b', -2), 0]);
    assert.deepEqual(plain(readAvroView(mapType, map)), plain(mapType.fromBuffer(map)));
  });

  test('bytes, fixed and string views: bytes and fixed share the input buffer', () => {
    const type = avro.Type.forSchema({ type: 'record', name: 'V', fields: [{ name: 'b', type: 'bytes' }, { name: 'f', type: { type: 'fixed', name: 'F2', size: 2 } }] });
    const buf = type.toBuffer({ b: Buffer.from([1, 2, 3]), f: Buffer.from([4, 5]) });
    const v = readAvroView(type, buf) as { b: Buffer; f: Buffer };
    assert.equal(v.b.buffer, buf.buffer);
    assert.equal(v.f.buffer, buf.buffer);
    assert.deepEqual([...v.b], [1, 2, 3]);
    assert.deepEqual([...v.f], [4, 5]);
  });

  test('long values between 2^52 and 2^53 - 1 decode like avsc does', () => {
    const type = avro.Type.forSchema('long');
    for (const v of [2 ** 52, -(2 ** 52) - 1, 2 ** 53 - 2]) {
      const buf = type.toBuffer(v);
      assert.equal(readAvroView(type, buf), type.fromBuffer(buf));
    }
  });
});

// ---------------------------------------------------------------------------------------------------
// Malformed input: a RequestError CS_ERR_BAD_REQUEST, never a crash, never a hang
// ---------------------------------------------------------------------------------------------------

describe('native codec: malformed requests', () => {
  const valid = encodeRequest(new Map([['x', sampleTensor('float32', [2, 3])], ['ids', sampleTensor('int64', [2])]]), 'reply-to');

  test('the hand-forging helpers write what avsc writes (so the forged cases below are forged on purpose only where meant)', () => {
    const viaAvsc = rawRequest([{ name: 'x', dtype: 'INT32', shape: [1, 2], data: Buffer.alloc(8, 1) }], 'r');
    const forged = forgedRequest([forgedTensor('x', 2, [1, 2], [...Buffer.alloc(8, 1)])], 'r');
    assert.deepEqual(forged, viaAvsc);
    assert.equal(decodeRequest(forged).inputs.get('x')!.dtype, 'int32');
  });

  test('empty buffer', () => {
    assertBadRequest(new Uint8Array(0), /empty/);
    assertBadRequest(Buffer.alloc(0));
  });

  test('wrong version byte (0, 2, 255) names the version', () => {
    for (const v of [0, 2, 255]) {
      const bytes = Buffer.from(valid);
      bytes[0] = v;
      assertBadRequest(bytes, new RegExp(`version ${v}`));
    }
  });

  test('only the version byte', () => {
    assertBadRequest(Buffer.from([NATIVE_VERSION]));
  });

  test('truncated at every prefix length of a valid request', () => {
    assert.doesNotThrow(() => decodeRequest(valid));
    for (let n = 0; n < valid.length; n++) {
      assert.throws(
        () => decodeRequest(valid.subarray(0, n)),
        (err: unknown) => err instanceof RequestError && err.code === 'CS_ERR_BAD_REQUEST',
        `prefix of ${n} of ${valid.length} bytes`,
      );
    }
  });

  test('a length that runs past the end is named as such (not read as a shorter value)', () => {
    assertBadRequest(valid.subarray(0, valid.length - 1), /runs past the end/); // inside the replyTo string
    const oneTensor = encodeRequest(new Map([['x', sampleTensor('uint8', [8])]]));
    assertBadRequest(oneTensor.subarray(0, oneTensor.length - 5), /runs past the end/); // inside the data bytes
  });

  test('truncated at every prefix length of a valid request copied into a larger buffer (no read past the view)', () => {
    // The bytes after the view are a valid continuation: a reader that ignored byteLength would succeed.
    const backing = Buffer.concat([valid, valid]);
    for (let n = 0; n < valid.length; n++) {
      assertBadRequest(new Uint8Array(backing.buffer, backing.byteOffset, n));
    }
  });

  test('forged huge array count [1, 0xff, 0xff, 0xff, 0x7f, 3] fails at once', () => {
    const started = performance.now();
    assertBadRequest(Buffer.from([1, 0xff, 0xff, 0xff, 0x7f, 3]));
    const ms = performance.now() - started;
    // avsc itself loops over the declared count (20 s on this input); the bound is generous on purpose.
    assert.ok(ms < 1000, `took ${ms.toFixed(0)} ms`);
  });

  test('forged huge counts and lengths anywhere fail at once', () => {
    const forgeries: [string, Buffer][] = [
      ['positive array count', Buffer.from([1, ...zz(2 ** 40)])],
      ['huge shape count', Buffer.from([1, ...zz(1), ...str('x'), 0, ...zz(2 ** 30), 2])],
      ['huge shape block count', Buffer.from([1, ...zz(1), ...str('x'), 0, ...zz(-(2 ** 30)), ...zz(4), 2])],
      ['huge name length', Buffer.from([1, ...zz(1), ...zz(2 ** 45), 0x78])],
      ['huge data length', Buffer.from([1, ...zz(1), ...str('x'), 0, 0, ...zz(2 ** 31), 1, 2, 3])],
      ['huge replyTo length', Buffer.from([1, ...forgedRequest([forgedTensor('x', 4, [1], [9])]).subarray(1, -1), 2, ...zz(2 ** 33)])],
      ['varint that never ends', Buffer.from([1, ...new Array<number>(64).fill(0xff)])],
      ['varint longer than 64 bits', Buffer.from([1, ...new Array<number>(11).fill(0x80), 0])],
    ];
    for (const [name, bytes] of forgeries) {
      const started = performance.now();
      assert.throws(() => decodeRequest(bytes), (err: unknown) => err instanceof RequestError && err.code === 'CS_ERR_BAD_REQUEST', name);
      const ms = performance.now() - started;
      assert.ok(ms < 1000, `${name} took ${ms.toFixed(0)} ms`);
    }
  });

  test('unknown dtype enum index (7, 100, -1)', () => {
    for (const idx of [7, 100, -1]) {
      assertBadRequest(forgedRequest([forgedTensor('x', idx, [1], [0])]), /DType|dtype|index/);
    }
  });

  test('invalid union branch for replyTo', () => {
    const bytes = Buffer.from(forgedRequest([forgedTensor('x', 4, [1], [0])]));
    bytes[bytes.length - 1] = 4; // branch 2 of a 2-branch union
    assertBadRequest(bytes);
  });

  test('invalid UTF-8 in a tensor name', () => {
    const t = forgedTensor('xx', 4, [1], [0]);
    t[1] = 0xc3; // a lead byte followed by 'x' (not a continuation byte)
    assertBadRequest(forgedRequest([t]));
  });

  test('trailing bytes', () => {
    assertBadRequest(Buffer.concat([valid, Buffer.from([0])]), /trailing/);
    assertBadRequest(Buffer.concat([valid, Buffer.from(valid.subarray(1))]), /trailing/);
  });

  test('data length not matching the shape (short, long, and for the element size)', () => {
    assertBadRequest(rawRequest([{ name: 'x', dtype: 'FLOAT32', shape: [2], data: Buffer.alloc(4) }]), /"x".*4 bytes.*8 bytes/);
    assertBadRequest(rawRequest([{ name: 'x', dtype: 'FLOAT32', shape: [2], data: Buffer.alloc(12) }]), /"x"/);
    assertBadRequest(rawRequest([{ name: 'x', dtype: 'INT64', shape: [3], data: Buffer.alloc(12) }]), /"x"/);
    assertBadRequest(rawRequest([{ name: 'x', dtype: 'UINT8', shape: [0, 4], data: Buffer.alloc(1) }]), /"x"/);
    assertBadRequest(rawRequest([{ name: 'x', dtype: 'FLOAT64', shape: [], data: Buffer.alloc(4) }]), /"x"/);
    // one bad tensor fails the request even when another is fine
    assertBadRequest(
      rawRequest([
        { name: 'ok', dtype: 'UINT8', shape: [1], data: Buffer.alloc(1) },
        { name: 'bad', dtype: 'INT32', shape: [1], data: Buffer.alloc(3) },
      ]),
      /"bad"/,
    );
  });

  test('a shape whose element count overflows never matches', () => {
    assertBadRequest(rawRequest([{ name: 'x', dtype: 'UINT8', shape: [2 ** 40, 2 ** 40], data: Buffer.alloc(0) }]));
  });

  test('duplicate tensor names', () => {
    const t = { name: 'x', dtype: 'UINT8', shape: [1], data: Buffer.from([1]) };
    assertBadRequest(rawRequest([t, { ...t }]), /"x".*twice/);
  });

  test('no inputs', () => {
    assertBadRequest(rawRequest([]), /no input/);
    assertBadRequest(rawRequest([], 'reply'), /no input/);
  });

  test('negative shape dim', () => {
    assertBadRequest(rawRequest([{ name: 'x', dtype: 'UINT8', shape: [-1], data: Buffer.alloc(0) }]), /shape/);
    assertBadRequest(rawRequest([{ name: 'x', dtype: 'UINT8', shape: [-2, -3], data: Buffer.alloc(6) }]), /shape/);
  });

  test('random corruption of a valid request never throws anything but a RequestError', () => {
    const noise = seededBytes(valid.length * 8, 99);
    for (let k = 0; k < 200; k++) {
      const bytes = Buffer.from(valid);
      const pos = 1 + (noise[k]! % (valid.length - 1));
      bytes[pos] = noise[k + 200]!;
      try {
        decodeRequest(bytes);
      } catch (err) {
        assert.ok(err instanceof RequestError, `corruption at ${pos}: ${String(err)}`);
        assert.equal(err.code, 'CS_ERR_BAD_REQUEST');
      }
    }
  });

  test('the cause of a malformed-Avro error is kept', () => {
    try {
      decodeRequest(valid.subarray(0, 5));
      assert.fail('expected a throw');
    } catch (err) {
      assert.ok(err instanceof RequestError);
      assert.ok(err.cause instanceof Error);
      assert.match(err.message, /malformed request/);
    }
  });
});
