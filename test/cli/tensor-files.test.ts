import { strict as assert } from 'node:assert';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ClusterServingError } from '../../src/errors';
import { DTYPES, toTypedArray, type DType, type Tensor } from '../../src/tensor/tensor';
import { cliDtypes, readElements, toElement, writeElements } from '../../src/cli/tensor-files/element-codecs';
import { jsonArray } from '../../src/cli/tensor-files/json-tensor';
import { parseNpy } from '../../src/cli/tensor-files/npy-file';
import { fitShape, readInputFile, type InputTarget } from '../../src/cli/tensor-files/read-input-file';
import { npyBytes } from './npy-writer';

function bytesOf(a: Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function assertBadRequest(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => err instanceof ClusterServingError && err.code === 'CS_ERR_BAD_REQUEST' && pattern.test(err.message));
}

const TINY: InputTarget = { label: 'job tiny', declared: { name: 'input', dtype: 'float32', shape: [-1, 16] } };

describe('element codecs', () => {
  it('read and write every dtype the client serves', () => {
    assert.deepEqual(cliDtypes(), [...DTYPES]);
    for (const dtype of DTYPES) {
      const values = dtype === 'int64' ? [0n, -5n, 2n ** 62n] : dtype === 'bool' ? [0, 1, 1] : [0, 1, 100];
      assert.deepEqual(readElements(dtype, writeElements(dtype, values)), values, dtype);
    }
  });

  it('codes float16 as IEEE half precision, rounding to nearest even (ready for the client\'s float16 dtype)', () => {
    const half = 'float16' as DType;
    const written = writeElements(half, [1, -2, 65504, 70000, 0.1, 2 ** -24, 2 ** -26, 1 + 2 ** -11, Infinity, NaN]);
    assert.equal(written.byteLength, 20);
    assert.deepEqual(Buffer.from(written.subarray(0, 4)), Buffer.from([0x00, 0x3c, 0x00, 0xc0]));
    assert.deepEqual(readElements(half, written), [1, -2, 65504, Infinity, 0.0999755859375, 2 ** -24, 0, 1, Infinity, NaN]);
  });

  it('checks values against the dtype', () => {
    assert.equal(toElement('int32', 3), 3);
    assert.match((toElement('int32', 2.5) as { problem: string }).problem, /not a whole number/);
    assert.match((toElement('uint8', 256) as { problem: string }).problem, /out of range for uint8/);
    assert.equal(toElement('int64', '9007199254740993'), 9007199254740993n);
    assert.equal(toElement('bool', true), 1);
    assert.match((toElement('float32', 'x') as { problem: string }).problem, /not a number/);
  });
});

describe('parseNpy', () => {
  it('reads numpy.save output without copying: float32, int64, uint8, bool, format 2.0', () => {
    const f = Float32Array.from({ length: 16 }, (_, i) => i / 4);
    const t = parseNpy(npyBytes('<f4', [1, 16], bytesOf(f)), 'x.npy');
    assert.equal(t.dtype, 'float32');
    assert.deepEqual(t.shape, [1, 16]);
    assert.deepEqual([...(toTypedArray(t) as Float32Array)], [...f]);

    const i = BigInt64Array.from([1n, -2n, 3n]);
    const ti = parseNpy(npyBytes('<i8', [3], bytesOf(i), { version: 2 }), 'i.npy');
    assert.deepEqual([ti.dtype, ti.shape, [...(toTypedArray(ti) as BigInt64Array)]], ['int64', [3], [1n, -2n, 3n]]);

    assert.deepEqual(parseNpy(npyBytes('|u1', [2, 2], Uint8Array.from([1, 2, 3, 4])), 'u.npy').shape, [2, 2]);
    assert.equal(parseNpy(npyBytes('|b1', [], Uint8Array.from([1])), 'b.npy').dtype, 'bool');
  });

  it('byte-swaps big-endian data', () => {
    const be = Buffer.alloc(8);
    be.writeFloatBE(1.5, 0);
    be.writeFloatBE(-2, 4);
    const t = parseNpy(npyBytes('>f4', [2], be), 'be.npy');
    assert.deepEqual([...(toTypedArray(t) as Float32Array)], [1.5, -2]);
  });

  it('refuses what it cannot send, naming the file', () => {
    assertBadRequest(() => parseNpy(Buffer.from('hello world, not npy'), 'a.txt'), /^a\.txt: not a NumPy \.npy file/);
    assertBadRequest(() => parseNpy(npyBytes('<i2', [2], new Uint8Array(4)), 's.npy'), /dtype '<i2' is not served; served: .*f4 \(float32\)/);
    assertBadRequest(() => parseNpy(npyBytes('<f4', [2, 2], new Uint8Array(16), { fortranOrder: true }), 'f.npy'), /Fortran order/);
    assertBadRequest(() => parseNpy(npyBytes('<f4', [4], new Uint8Array(8)), 'short.npy'), /8 bytes of data, shape \(4\) of float32 needs 16/);
  });
});

describe('jsonArray', () => {
  it('reads nested arrays with their shape, and scalars', () => {
    assert.deepEqual(jsonArray('[[1, 2, 3], [4, 5, 6]]', 'float32', 'x.json'), { shape: [2, 3], values: [1, 2, 3, 4, 5, 6] });
    assert.deepEqual(jsonArray('7', 'int32', 'x.json'), { shape: [], values: [7] });
    assert.deepEqual(jsonArray('[[]]', 'float32', 'x.json'), { shape: [1, 0], values: [] });
  });

  it('names the first position that is wrong', () => {
    assertBadRequest(() => jsonArray('[[1, 2], [3]]', 'float32', 'r.json'), /^r\.json: \[1\] is 1 long, expected 2 entries/);
    assertBadRequest(() => jsonArray('[[1, 2], [3, [4]]]', 'float32', 'd.json'), /\[1\]\[1\] is nested deeper/);
    assertBadRequest(() => jsonArray('[1, 2.5]', 'int32', 'i.json'), /\[1\]: 2\.5 is not a whole number/);
    assertBadRequest(() => jsonArray('[1, ', 'float32', 'bad.json'), /^bad\.json: not valid JSON/);
  });
});

describe('fitShape', () => {
  it('adds the batch dimension, follows --shape, shapes flat data by the model input', () => {
    assert.deepEqual(fitShape('x', [16], 16, TINY, {}), [1, 16]);
    assert.deepEqual(fitShape('x', [2, 16], 32, TINY, {}), [2, 16]);
    assert.deepEqual(fitShape('x', undefined, 16, TINY, {}), [1, 16]);
    assert.deepEqual(fitShape('x', [4, 4], 16, TINY, {}), [4, 4], 'a shaped file keeps its shape (the server says what it expected)');
    assert.deepEqual(fitShape('x', [16], 16, TINY, { shape: [2, 8] }), [2, 8]);
    assertBadRequest(() => fitShape('x', [16], 16, TINY, { shape: [3, 8] }), /16 values do not fill --shape \[3, 8\]/);
    assertBadRequest(() => fitShape('x.bin', undefined, 10, { label: 'stream s' }, {}), /raw bytes need --shape/);
  });
});

describe('readInputFile', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cs-tensor-files-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function file(name: string, content: string | Uint8Array): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, content);
    return path;
  }

  it('reads .npy, .json and raw files to the same tensor, casting a float64 .npy to the model input dtype', async () => {
    const values = Float32Array.from({ length: 16 }, (_, i) => (i - 8) / 4);
    const expected: Tensor = { dtype: 'float32', shape: [1, 16], data: bytesOf(values) };
    const fromNpy = await readInputFile(await file('x.npy', npyBytes('<f4', [16], bytesOf(values))), TINY);
    const from64 = await readInputFile(await file('x64.npy', npyBytes('<f8', [1, 16], bytesOf(Float64Array.from(values)))), TINY);
    const fromJson = await readInputFile(await file('x.json', JSON.stringify([...values])), TINY);
    const fromRaw = await readInputFile(await file('x.bin', bytesOf(values)), TINY);
    for (const t of [fromNpy, from64, fromJson, fromRaw]) assert.deepEqual({ ...t, data: Buffer.from(t.data) }, { ...expected, data: Buffer.from(expected.data) });
  });

  it('sends an image as it is, and refuses it where images are not decoded', async () => {
    const jpeg = await file('cat.jpg', Uint8Array.from([0xff, 0xd8, 0xff, 1, 2, 3]));
    const t = await readInputFile(jpeg, { label: 'job img' });
    assert.deepEqual([t.dtype, t.shape], ['uint8', [6]]);
    await assert.rejects(readInputFile(jpeg, { ...TINY, imageRefusal: 'job tiny does not decode images' }), /cat\.jpg: job tiny does not decode images/);
  });

  it('says what is missing in one line', async () => {
    await assert.rejects(readInputFile(join(dir, 'missing.npy'), TINY), /missing\.npy: no such file/);
    await assert.rejects(readInputFile(await file('odd.bin', new Uint8Array(6)), TINY), /6 bytes are not a whole number of float32 values/);
    await assert.rejects(readInputFile(await file('x.raw', new Uint8Array(8)), { label: 'stream s' }), /raw bytes need --dtype/);
  });
});
