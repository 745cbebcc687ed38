import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { float16ToNumber, toFloat16 } from '../../src/tensor/float16';
import { tensorFrom, type DType, type Tensor } from '../../src/tensor/tensor';
import { acceptedDtypes, convertible, normalizationProblem, writeFloat32, type Normalization } from '../../src/tensor/wire-dtypes';

const IMAGENET: Normalization = { scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], channelAxis: 1 };

/** The formula, element by element in float64, rounded once to float32: what a client computing float32 input would send. */
function normalizedReference(x: Uint8Array, shape: number[], n: Normalization): number[] {
  const axis = n.channelAxis < 0 ? shape.length + n.channelAxis : n.channelAxis;
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const channels = Math.max(n.mean.length, n.std.length);
  return [...x].map((v, i) => {
    const c = channels === 1 ? 0 : Math.floor(i / inner) % channels;
    return Math.fround((v * n.scale - n.mean[n.mean.length === 1 ? 0 : c]!) / n.std[n.std.length === 1 ? 0 : c]!);
  });
}

function uint8Tensor(shape: number[], seed: number): Tensor {
  const count = shape.reduce((a, b) => a * b, 1);
  return tensorFrom(Uint8Array.from({ length: count }, (_, i) => (i * 97 + seed * 13 + (i >> 3)) & 0xff), shape, 'uint8');
}

function converted(t: Tensor, n?: Normalization): number[] {
  const out = new Float32Array(t.shape.reduce((a, b) => a * b, 1));
  writeFloat32(out, t, n);
  return [...out];
}

describe('wire dtypes: which dtypes convert', () => {
  test('float32 inputs take float16 and uint8; every other input only its own dtype; unknown inputs anything', () => {
    assert.deepEqual(acceptedDtypes('float32'), ['float32', 'float16', 'uint8']);
    assert.ok(convertible('float16', 'float32') && convertible('uint8', 'float32') && convertible('float32', 'float32'));
    for (const model of ['float64', 'int32', 'int64', 'uint8', 'bool', 'float16'] as DType[]) {
      assert.deepEqual(acceptedDtypes(model), [model]);
      for (const sent of ['float32', 'float64', 'int32', 'int64', 'uint8', 'bool', 'float16'] as DType[]) assert.equal(convertible(sent, model), sent === model, `${sent} → ${model}`);
    }
    assert.ok(convertible('int32', 'float32') === false && convertible('float64', 'float32') === false);
    assert.ok(convertible('int64', undefined));
  });
});

describe('writeFloat32', () => {
  test('uint8 without normalisation: the values 0–255 as floats', () => {
    const t = tensorFrom(Uint8Array.from({ length: 256 }, (_, i) => i), [1, 256], 'uint8');
    assert.deepEqual(converted(t), Array.from({ length: 256 }, (_, i) => i));
  });

  test('uint8 NCHW with ImageNet scale, mean and std: exactly the formula rounded once to float32', () => {
    const t = uint8Tensor([2, 3, 5, 7], 1);
    assert.deepEqual(converted(t, IMAGENET), normalizedReference(t.data, [2, 3, 5, 7], IMAGENET));
  });

  test('uint8 NHWC (channelAxis 3 and −1) and a middle axis', () => {
    const t = uint8Tensor([2, 5, 7, 3], 2);
    const nhwc = { ...IMAGENET, channelAxis: 3 };
    assert.deepEqual(converted(t, nhwc), normalizedReference(t.data, [2, 5, 7, 3], nhwc));
    assert.deepEqual(converted(t, { ...IMAGENET, channelAxis: -1 }), converted(t, nhwc));
    const middle: Normalization = { scale: 0.5, mean: [1, 2, 3, 4, 5], std: [1, 2, 4, 8, 16], channelAxis: 1 };
    const u = uint8Tensor([3, 5, 2], 3);
    assert.deepEqual(converted(u, middle), normalizedReference(u.data, [3, 5, 2], middle));
  });

  test('one mean and std for all, or one of them per channel and the other shared', () => {
    const t = uint8Tensor([1, 3, 4, 4], 4);
    const one: Normalization = { scale: 2, mean: [10], std: [4], channelAxis: 1 };
    assert.deepEqual(converted(t, one), normalizedReference(t.data, [1, 3, 4, 4], one));
    const meanOnly: Normalization = { scale: 1, mean: [100, 120, 140], std: [58], channelAxis: 1 };
    assert.deepEqual(converted(t, meanOnly), normalizedReference(t.data, [1, 3, 4, 4], meanOnly));
  });

  test('a normalisation where x · (scale/std) − mean/std is off by an ulp still gives the formula exactly (a table then)', () => {
    // 204 / 255 is exactly 0.8: the formula gives 0, the rearranged arithmetic −1.1e-16.
    const n: Normalization = { scale: 1 / 255, mean: [0.8], std: [0.955], channelAxis: 1 };
    const t = tensorFrom(Uint8Array.from({ length: 256 }, (_, i) => i), [1, 256], 'uint8');
    const out = converted(t, n);
    assert.ok(Object.is(out[204], 0));
    assert.deepEqual(out, normalizedReference(t.data, [1, 256], n));
    const nhwc: Normalization = { scale: 1 / 255, mean: [0.8, 0.1, 0.2], std: [0.955, 1, 2], channelAxis: -1 };
    const u = uint8Tensor([2, 9, 3], 5);
    assert.deepEqual(converted(u, nhwc), normalizedReference(u.data, [2, 9, 3], nhwc));
  });

  test('float16 is cast exactly, also from an odd byte offset of a payload; float32 is copied', () => {
    const values = Float32Array.from({ length: 300 }, (_, i) => Math.sin(i) * 10 ** ((i % 9) - 4));
    const bits = toFloat16(values);
    assert.deepEqual(converted(tensorFrom(bits, [3, 100])), [...bits].map(float16ToNumber));
    const payload = new Uint8Array(1 + bits.byteLength);
    payload.set(new Uint8Array(bits.buffer), 1);
    const odd: Tensor = { dtype: 'float16', shape: [3, 100], data: payload.subarray(1) };
    assert.deepEqual(converted(odd), [...bits].map(float16ToNumber));
    assert.deepEqual(converted(tensorFrom(values, [3, 100])), [...values]);
  });

  test('other dtypes and a wrong target size are errors', () => {
    assert.throws(() => converted(tensorFrom(new Int32Array(4), [4])), /int32 tensor cannot be converted to float32/);
    assert.throws(() => writeFloat32(new Float32Array(3), uint8Tensor([4], 0)), /3 floats for 4 elements/);
  });
});

describe('normalizationProblem', () => {
  test('fits when the channel axis has one entry per mean/std, or when there is one for all', () => {
    assert.equal(normalizationProblem([1, 3, 224, 224], IMAGENET), undefined);
    assert.equal(normalizationProblem([1, 224, 224, 3], { ...IMAGENET, channelAxis: -1 }), undefined);
    assert.equal(normalizationProblem([7], { scale: 1, mean: [3], std: [2], channelAxis: 5 }), undefined);
  });

  test('names the axis and both sizes when they differ, or the axis when the tensor lacks it', () => {
    assert.equal(normalizationProblem([1, 224, 224, 3], IMAGENET), 'decode.normalize has 3 channels, shape [1, 224, 224, 3] has 224 along channelAxis 1');
    assert.equal(normalizationProblem([1], IMAGENET), 'decode.normalize.channelAxis 1 is not a dimension of shape [1]');
    assert.equal(normalizationProblem([3, 1], { ...IMAGENET, channelAxis: -3 }), 'decode.normalize.channelAxis -3 is not a dimension of shape [3, 1]');
  });
});
