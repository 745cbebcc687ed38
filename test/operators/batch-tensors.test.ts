import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { concatRows, splitRows } from '../../src/operators/batch-tensors';
import { tensorFrom, toTypedArray, type Tensor } from '../../src/tensor/tensor';
import { float16ToNumber, toFloat16 } from '../../src/tensor/float16';
import type { Normalization } from '../../src/tensor/wire-dtypes';

function f32(rows: number, width: number, start: number): Tensor {
  return tensorFrom(Float32Array.from({ length: rows * width }, (_, i) => start + i + 0.25), [rows, width]);
}
function i64(rows: number, cols: number, start: bigint): Tensor {
  return tensorFrom(BigInt64Array.from({ length: rows * cols * 2 }, (_, i) => (i % 2 === 0 ? start + BigInt(i) : -(2n ** 60n) - BigInt(i))), [rows, cols, 2]);
}
const floats = (t: Tensor): number[] => [...(toTypedArray(t) as Float32Array)];
const bigints = (t: Tensor): bigint[] => [...(toTypedArray(t) as BigInt64Array)];

describe('concatRows', () => {
  test('several multi-row float32 tensors: the manual concatenation', () => {
    const parts = [f32(2, 3, 0), f32(1, 3, 100), f32(4, 3, 200)];
    const out = concatRows(parts);
    assert.equal(out.dtype, 'float32');
    assert.deepEqual(out.shape, [7, 3]);
    assert.deepEqual(floats(out), parts.flatMap(floats));
    assert.equal(out.data.byteLength, 7 * 3 * 4);
  });

  test('several multi-row int64 tensors (rank 3): the manual concatenation', () => {
    const parts = [i64(3, 2, 10n), i64(1, 2, 1000n), i64(2, 2, 5n)];
    const out = concatRows(parts);
    assert.equal(out.dtype, 'int64');
    assert.deepEqual(out.shape, [6, 2, 2]);
    assert.deepEqual(bigints(out), parts.flatMap(bigints));
  });

  test('one part is copied, not aliased', () => {
    const part = f32(2, 2, 0);
    const out = concatRows([part]);
    assert.deepEqual(out.shape, [2, 2]);
    assert.deepEqual(floats(out), floats(part));
    assert.notEqual(out.data.buffer, part.data.buffer);
  });

  test('parts that are views into larger buffers at odd offsets contribute only their own bytes', () => {
    const backing = new Uint8Array(64).map((_, i) => i);
    const a: Tensor = { dtype: 'uint8', shape: [2, 3], data: backing.subarray(5, 11) };
    const b: Tensor = { dtype: 'uint8', shape: [1, 3], data: backing.subarray(40, 43) };
    const out = concatRows([a, b]);
    assert.deepEqual(out.shape, [3, 3]);
    assert.deepEqual([...out.data], [5, 6, 7, 8, 9, 10, 40, 41, 42]);
  });

  test('the allocator is asked once for exactly the total bytes and its buffer is the result', () => {
    const asked: number[] = [];
    const pool = new Uint8Array(1024).fill(0xee);
    const allocate = (n: number): Uint8Array => {
      asked.push(n);
      return pool.subarray(16, 16 + n);
    };
    const parts = [f32(2, 3, 0), f32(3, 3, 50)];
    const out = concatRows(parts, allocate);
    assert.deepEqual(asked, [5 * 3 * 4]);
    assert.equal(out.data.buffer, pool.buffer);
    assert.equal(out.data.byteOffset, 16);
    assert.deepEqual(floats({ ...out, data: new Uint8Array(out.data) }), parts.flatMap(floats));
    assert.equal(pool[16 + 60], 0xee, 'nothing written past the requested bytes');
  });

  test('large parts at any offset copy exactly into a shared buffer at any offset (the staged path)', () => {
    const width = 3000;
    const backing = new Uint8Array(4 * width * 3 + 64).map((_, i) => (i * 13) & 0xff);
    for (const srcShift of [0, 1, 3, 4, 7]) {
      for (const dstShift of [0, 5, 8]) {
        const parts: Tensor[] = [0, 1].map((k) => ({ dtype: 'uint8', shape: [1, 4 * width], data: backing.subarray(srcShift + k * 4 * width, srcShift + (k + 1) * 4 * width) }));
        const shared = new Uint8Array(new SharedArrayBuffer(8 * width + 16)).fill(0xee);
        const out = concatRows(parts, (n) => shared.subarray(dstShift, dstShift + n));
        assert.deepEqual([...out.data], [...parts[0]!.data, ...parts[1]!.data], `source +${srcShift}, target +${dstShift}`);
        assert.equal(shared[dstShift + 8 * width], 0xee, 'nothing written past the batch');
        if (dstShift > 0) assert.equal(shared[dstShift - 1], 0xee, 'nothing written before the batch');
      }
    }
  });

  test('scalars count as one row each', () => {
    const out = concatRows([tensorFrom(new Float32Array([1]), []), tensorFrom(new Float32Array([2]), [])]);
    assert.deepEqual(out.shape, [2]);
    assert.deepEqual(floats(out), [1, 2]);
  });

  test('nothing to concatenate throws', () => {
    assert.throws(() => concatRows([]));
  });
});

describe('concatRows into a model dtype (compact wire dtypes)', () => {
  const norm: Normalization = { scale: 1 / 255, mean: [0.5, 0.25], std: [0.5, 0.125], channelAxis: 1 };
  /** uint8 [rows, 2, 3]: two channels of three values per row. */
  const u8 = (rows: number, seed: number): Tensor => tensorFrom(Uint8Array.from({ length: rows * 6 }, (_, i) => (i * 41 + seed) & 0xff), [rows, 2, 3], 'uint8');
  const normalized = (t: Tensor): number[] => [...t.data].map((v, i) => Math.fround((v / 255 - norm.mean[Math.floor(i / 3) % 2]!) / norm.std[Math.floor(i / 3) % 2]!));

  test('float32, float16 and uint8 parts become one float32 batch, in a shared buffer, at odd payload offsets too', () => {
    const a = tensorFrom(Float32Array.from({ length: 12 }, (_, i) => i / 7), [2, 2, 3]);
    const halfBits = toFloat16(Float32Array.from({ length: 6 }, (_, i) => -i * 1.3));
    const payload = new Uint8Array(1 + halfBits.byteLength + 7);
    payload.set(new Uint8Array(halfBits.buffer), 1);
    const b: Tensor = { dtype: 'float16', shape: [1, 2, 3], data: payload.subarray(1, 1 + halfBits.byteLength) };
    const c = u8(3, 5);
    const pool = new SharedArrayBuffer(4096);
    const out = concatRows([a, b, c], (n) => new Uint8Array(pool, 0, n), { dtype: 'float32', normalize: norm });
    assert.equal(out.dtype, 'float32');
    assert.deepEqual(out.shape, [6, 2, 3]);
    assert.equal(out.data.buffer, pool);
    assert.equal(out.data.byteLength, 6 * 6 * 4);
    assert.deepEqual(floats(out), [...floats(a), ...[...halfBits].map(float16ToNumber), ...normalized(c)]);
  });

  test('uint8 without a normalisation is cast; a uint8 batch of a uint8 input is copied as it is', () => {
    const c = u8(2, 9);
    assert.deepEqual(floats(concatRows([c], undefined, { dtype: 'float32' })), [...c.data]);
    const raw = concatRows([c, u8(1, 3)], undefined, { dtype: 'uint8', normalize: norm });
    assert.equal(raw.dtype, 'uint8');
    assert.deepEqual([...raw.data], [...c.data, ...u8(1, 3).data]);
  });

  test('a part that cannot become the batch dtype is an error (infer then runs the batch request by request)', () => {
    assert.throws(() => concatRows([f32(1, 3, 0), tensorFrom(new Int32Array(3), [1, 3])], undefined, { dtype: 'float32' }), /int32 tensor cannot be converted to float32/);
    assert.throws(() => concatRows([tensorFrom(new Float64Array(3), [1, 3]), tensorFrom(new Float32Array(3), [1, 3])], undefined, { dtype: 'float64' }), /float32 tensor cannot be part of a batch of float64/);
    assert.throws(() => concatRows([tensorFrom(new Int32Array(3), [1, 3]), tensorFrom(new Float64Array(3), [1, 3])]), /cannot be part of a batch of int32/);
  });
});

describe('splitRows', () => {
  test('returns views of the same buffer (no copy) with the right contents and shapes', () => {
    const parts = [f32(2, 3, 0), f32(1, 3, 100), f32(4, 3, 200)];
    const whole = concatRows(parts);
    const split = splitRows(whole, [2, 1, 4]);
    assert.ok(split);
    assert.equal(split.length, 3);
    let offset = whole.data.byteOffset;
    split.forEach((s, i) => {
      assert.equal(s.dtype, 'float32');
      assert.deepEqual(s.shape, parts[i]!.shape);
      assert.equal(s.data.buffer, whole.data.buffer, `part ${i} shares the buffer`);
      assert.equal(s.data.byteOffset, offset, `part ${i} starts where the previous ended`);
      offset += s.data.byteLength;
      assert.deepEqual(floats(s), floats(parts[i]!));
    });
    assert.equal(offset, whole.data.byteOffset + whole.data.byteLength);
    // a write through the whole shows through the view: shared memory
    const last = whole.data.byteLength - 1;
    whole.data[last] = whole.data[last]! ^ 0xff;
    assert.equal(split[2]!.data[split[2]!.data.byteLength - 1], whole.data[last]);
  });

  test('int64 rank 3 splits back into the original parts', () => {
    const parts = [i64(3, 2, 10n), i64(1, 2, 1000n), i64(2, 2, 5n)];
    const split = splitRows(concatRows(parts), [3, 1, 2]);
    assert.ok(split);
    split.forEach((s, i) => {
      assert.deepEqual(s.shape, [parts[i]!.shape[0], 2, 2]);
      assert.deepEqual(bigints(s), bigints(parts[i]!));
    });
  });

  test('a tensor that is itself a view at an offset splits relative to its own start', () => {
    const backing = new Uint8Array(32).map((_, i) => i);
    const t: Tensor = { dtype: 'uint8', shape: [3, 2], data: backing.subarray(10, 16) };
    const split = splitRows(t, [1, 2]);
    assert.ok(split);
    assert.deepEqual([...split[0]!.data], [10, 11]);
    assert.deepEqual([...split[1]!.data], [12, 13, 14, 15]);
    assert.equal(split[1]!.data.buffer, backing.buffer);
  });

  test('one request takes every row', () => {
    const t = f32(4, 2, 0);
    const split = splitRows(t, [4]);
    assert.ok(split);
    assert.deepEqual(split[0]!.shape, [4, 2]);
    assert.deepEqual(floats(split[0]!), floats(t));
  });

  test('rank-1 outputs split into rank-1 parts', () => {
    const t = tensorFrom(new Float32Array([1, 2, 3, 4, 5]), [5]);
    const split = splitRows(t, [2, 3]);
    assert.ok(split);
    assert.deepEqual(split.map((s) => s.shape), [[2], [3]]);
    assert.deepEqual(split.map(floats), [[1, 2], [3, 4, 5]]);
  });

  test('undefined when the rows do not add up to the leading dimension', () => {
    const t = f32(5, 2, 0);
    assert.equal(splitRows(t, [2, 2]), undefined);
    assert.equal(splitRows(t, [3, 3]), undefined);
    assert.equal(splitRows(t, [6]), undefined);
    assert.equal(splitRows(t, []), undefined);
  });

  test('undefined for a scalar output (no batch dimension)', () => {
    assert.equal(splitRows(tensorFrom(new Float32Array([1]), []), [1]), undefined);
  });
});
