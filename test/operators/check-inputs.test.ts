import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { firstValueFrom, from, toArray } from 'rxjs';
import { checkInputs, checkRequest, requestRows, shapeKey } from '../../src/operators/check-inputs';
import type { TensorInfo } from '../../src/runtime/model-runtime';
import { errorResult, type InferenceRequest, type InferenceResult } from '../../src/tensor/records';
import type { DType, Tensor } from '../../src/tensor/tensor';
import type { Normalization } from '../../src/tensor/wire-dtypes';

/** A tensor of the right byte size for its dtype and shape (contents do not matter to the check). */
function t(dtype: DType, shape: number[]): Tensor {
  const bytes = { float32: 4, float64: 8, int32: 4, int64: 8, uint8: 1, bool: 1, float16: 2 }[dtype];
  return { dtype, shape, data: new Uint8Array(shape.reduce((a, b) => a * b, 1) * bytes) };
}

function req(inputs: [string, Tensor][], uri = 'uri-1'): InferenceRequest {
  return { kind: 'request', uri, ref: { split: 'split-0', entryId: '1-0' }, replyTo: 'reply', inputs: new Map(inputs), receivedAt: 42 };
}

function info(name: string, dtype: DType | undefined, shape: (number | string)[]): TensorInfo {
  return { name, dtype, shape };
}

function expectOk(out: InferenceRequest | InferenceResult): InferenceRequest {
  assert.equal(out.kind, 'request', out.kind === 'result' ? `unexpected error: ${out.error?.message}` : '');
  return out as InferenceRequest;
}

/** Asserts a CS_ERR_SHAPE result for `r` whose message contains every one of `parts`. */
function expectShapeError(out: InferenceRequest | InferenceResult, r: InferenceRequest, ...parts: string[]): string {
  assert.equal(out.kind, 'result', 'expected an error result');
  const res = out as InferenceResult;
  assert.equal(res.error?.code, 'CS_ERR_SHAPE');
  assert.equal(res.outputs, undefined);
  // the error result keeps the request's identity, so the sink can ack and reply
  assert.equal(res.uri, r.uri);
  assert.deepEqual(res.ref, r.ref);
  assert.equal(res.replyTo, r.replyTo);
  assert.equal(res.receivedAt, r.receivedAt);
  for (const p of parts) assert.ok(res.error!.message.includes(p), `message ${JSON.stringify(res.error!.message)} should contain ${JSON.stringify(p)}`);
  return res.error!.message;
}

const IMAGE = info('image', 'float32', ['batch', 3, 4, 4]);
const MASK = info('mask', 'bool', ['batch', 4]);

describe('checkRequest: matching', () => {
  test('match by name: tensors keep their data and come out in the model input order', () => {
    const image = t('float32', [2, 3, 4, 4]);
    const mask = t('bool', [2, 4]);
    const r = req([['mask', mask], ['image', image]]);
    const out = expectOk(checkRequest(r, [IMAGE, MASK]));
    assert.deepEqual([...out.inputs.keys()], ['image', 'mask']);
    assert.equal(out.inputs.get('image'), image, 'same tensor object, not a copy');
    assert.equal(out.inputs.get('mask'), mask);
    // the rest of the request is unchanged
    assert.equal(out.uri, r.uri);
    assert.deepEqual(out.ref, r.ref);
    assert.equal(out.replyTo, r.replyTo);
    assert.equal(out.receivedAt, r.receivedAt);
    // the input request is not mutated
    assert.deepEqual([...r.inputs.keys()], ['mask', 'image']);
  });

  test('match by position when no name matches and the counts agree (renamed to the model names)', () => {
    const a = t('float32', [1, 3, 4, 4]);
    const b = t('bool', [1, 4]);
    const out = expectOk(checkRequest(req([['t0', a], ['t1', b]]), [IMAGE, MASK]));
    assert.deepEqual([...out.inputs.keys()], ['image', 'mask']);
    assert.equal(out.inputs.get('image'), a);
    assert.equal(out.inputs.get('mask'), b);
  });

  test('by position, the position decides: swapped tensors fail on the first input', () => {
    const r = req([['t0', t('bool', [1, 4])], ['t1', t('float32', [1, 3, 4, 4])]]);
    expectShapeError(checkRequest(r, [IMAGE, MASK]), r, 'image', 'float32');
  });

  test('single input by position', () => {
    const x = t('float32', [5, 3, 4, 4]);
    const out = expectOk(checkRequest(req([['whatever', x]]), [IMAGE]));
    assert.deepEqual([...out.inputs.keys()], ['image']);
    assert.equal(out.inputs.get('image'), x);
  });

  test(
    'a partial name match does not silently fall back to position',
    () => {
      // The request names "mask" correctly but calls the image "img". Matching by position would feed the
      // request's "mask" tensor to the model's "image" input; the doc says position is used when NO name matches.
      const r = req([['mask', t('float32', [1, 3, 4, 4])], ['img', t('bool', [1, 4])]]);
      const out = checkRequest(r, [IMAGE, MASK]);
      if (out.kind === 'request') assert.notEqual(out.inputs.get('image'), r.inputs.get('mask'), 'the "mask" tensor was fed to "image"');
      else expectShapeError(out, r, 'img');
    },
  );
});

describe('checkRequest: mismatches are CS_ERR_SHAPE results naming the input and what was expected', () => {
  test('wrong count (too few, names do not match) lists every model input with its shape', () => {
    const r = req([['x', t('float32', [1, 3, 4, 4])]]);
    expectShapeError(checkRequest(r, [IMAGE, MASK]), r, '2 input', 'image', 'float32 [batch, 3, 4, 4]', 'mask', 'bool [batch, 4]', '1');
  });

  test('wrong count (too few, the given name matches one model input)', () => {
    const r = req([['image', t('float32', [1, 3, 4, 4])]]);
    expectShapeError(checkRequest(r, [IMAGE, MASK]), r, 'image', 'mask');
  });

  test('wrong count (too many, by position)', () => {
    const r = req([['a', t('float32', [1, 3, 4, 4])], ['b', t('bool', [1, 4])]]);
    expectShapeError(checkRequest(r, [IMAGE]), r, '1 input', 'image', 'float32 [batch, 3, 4, 4]', 'a', 'b');
  });

  test('an unknown extra name next to all the right ones', () => {
    const r = req([['image', t('float32', [1, 3, 4, 4])], ['mask', t('bool', [1, 4])], ['extra', t('uint8', [1])]]);
    const msg = expectShapeError(checkRequest(r, [IMAGE, MASK]), r, 'extra', 'image', 'mask');
    assert.match(msg, /unknown/);
  });

  test('wrong dtype names the input, the given and the expected dtype', () => {
    const r = req([['image', t('float64', [1, 3, 4, 4])], ['mask', t('bool', [1, 4])]]);
    expectShapeError(checkRequest(r, [IMAGE, MASK]), r, 'image', 'float64', 'float32');
    const r2 = req([['image', t('float32', [1, 3, 4, 4])], ['mask', t('uint8', [1, 4])]]);
    expectShapeError(checkRequest(r2, [IMAGE, MASK]), r2, 'mask', 'uint8', 'bool');
  });

  test('a model input of unknown dtype accepts any dtype', () => {
    const any = info('any', undefined, ['n', 2]);
    for (const d of ['float32', 'int64', 'uint8', 'bool'] as DType[]) expectOk(checkRequest(req([['any', t(d, [3, 2])]]), [any]));
  });

  test('wrong rank (higher and lower) names the input and the expected shape', () => {
    for (const shape of [[1, 3, 4], [1, 3, 4, 4, 1], [48]]) {
      const r = req([['image', t('float32', shape)], ['mask', t('bool', [1, 4])]]);
      expectShapeError(checkRequest(r, [IMAGE, MASK]), r, 'image', `[${shape.join(', ')}]`, 'rank', '[batch, 3, 4, 4]');
    }
  });

  test('a scalar for a ranked input is a rank error', () => {
    const r = req([['v', t('float32', [])]]);
    expectShapeError(checkRequest(r, [info('v', 'float32', ['n', 2])]), r, 'v', 'rank', '[n, 2]');
  });

  test('wrong fixed dimension in every non-batch position names the input and the expected shape', () => {
    for (const shape of [[1, 1, 4, 4], [1, 3, 5, 4], [1, 3, 4, 3]]) {
      const r = req([['image', t('float32', shape)], ['mask', t('bool', [1, 4])]]);
      expectShapeError(checkRequest(r, [IMAGE, MASK]), r, 'image', `[${shape.join(', ')}]`, 'float32 [batch, 3, 4, 4]');
    }
    const r = req([['image', t('float32', [2, 3, 4, 4])], ['mask', t('bool', [2, 5])]]);
    expectShapeError(checkRequest(r, [IMAGE, MASK]), r, 'mask', 'bool [batch, 4]');
  });

  test('symbolic (string) and dynamic (-1) dimensions accept any size', () => {
    const seq = info('seq', 'int64', ['batch', 'length', -1, 8]);
    for (const [b, l, x] of [[1, 1, 1], [4, 100, 0], [2, 7, 33]] as const) {
      const out = expectOk(checkRequest(req([['seq', t('int64', [b, l, x, 8])]]), [seq]));
      assert.deepEqual(out.inputs.get('seq')!.shape, [b, l, x, 8]);
    }
    const bad = req([['seq', t('int64', [1, 5, 5, 7])]]);
    expectShapeError(checkRequest(bad, [seq]), bad, 'seq', '[batch, length, -1, 8]');
  });

  test('a batch dimension of any size ≥ 1 is accepted when it is symbolic or dynamic', () => {
    for (const first of ['N', -1, 0] as const) {
      const m = info('x', 'float32', [first, 2]);
      for (const rows of [1, 2, 64]) expectOk(checkRequest(req([['x', t('float32', [rows, 2])]]), [m]));
    }
  });

  test('a fixed batch dimension must match exactly', () => {
    const fixed = info('x', 'float32', [1, 3]);
    expectOk(checkRequest(req([['x', t('float32', [1, 3])]]), [fixed]));
    const r = req([['x', t('float32', [2, 3])]]);
    expectShapeError(checkRequest(r, [fixed]), r, 'x', 'batch', '2', '1');
    const four = info('x', 'float32', [4, 3]);
    expectOk(checkRequest(req([['x', t('float32', [4, 3])]]), [four]));
    const r4 = req([['x', t('float32', [3, 3])]]);
    expectShapeError(checkRequest(r4, [four]), r4, 'x', '4');
  });

  test('an empty batch (leading dimension 0) is rejected', () => {
    const r = req([['x', t('float32', [0, 3])]]);
    expectShapeError(checkRequest(r, [info('x', 'float32', ['n', 3])]), r, 'x', 'empty');
  });

  test('inputs disagreeing on the batch dimension', () => {
    const r = req([['image', t('float32', [2, 3, 4, 4])], ['mask', t('bool', [3, 4])]]);
    expectShapeError(checkRequest(r, [IMAGE, MASK]), r, 'batch', '2', '3', 'mask');
    const ok = req([['image', t('float32', [3, 3, 4, 4])], ['mask', t('bool', [3, 4])]]);
    expectOk(checkRequest(ok, [IMAGE, MASK]));
  });

  test('a model input with no declared shape accepts any shape', () => {
    const free = info('f', 'float32', []);
    expectOk(checkRequest(req([['f', t('float32', [])]]), [free]));
    expectOk(checkRequest(req([['f', t('float32', [2, 9, 9])]]), [free]));
  });
});

describe('checkInputs operator', () => {
  test('checks requests and passes earlier error results through untouched, in order', async () => {
    const good = req([['image', t('float32', [1, 3, 4, 4])], ['mask', t('bool', [1, 4])]], 'good');
    const bad = req([['image', t('float32', [1, 3, 4, 5])], ['mask', t('bool', [1, 4])]], 'bad');
    const earlier = errorResult(req([], 'earlier'), { code: 'CS_ERR_BAD_REQUEST', message: 'm' });
    const out = await firstValueFrom(from([good, earlier, bad]).pipe(checkInputs([IMAGE, MASK]), toArray()));
    assert.equal(out.length, 3);
    assert.equal(out[0]!.kind, 'request');
    assert.equal(out[1], earlier);
    assert.equal(out[2]!.kind, 'result');
    assert.equal((out[2] as InferenceResult).error?.code, 'CS_ERR_SHAPE');
    assert.equal(out[2]!.uri, 'bad');
  });
});

describe('requestRows', () => {
  test('the leading dimension of the first input, 1 for a scalar', () => {
    assert.equal(requestRows(req([['x', t('float32', [7, 2])]])), 7);
    assert.equal(requestRows(req([['x', t('float32', [1])]])), 1);
    assert.equal(requestRows(req([['x', t('float32', [])]])), 1);
    assert.equal(requestRows(req([['a', t('float32', [3, 2])], ['b', t('float32', [3])]])), 3);
  });
});

describe('shapeKey', () => {
  const key = (inputs: [string, DType, number[]][]): string => shapeKey(req(inputs.map(([n, d, s]) => [n, t(d, s)])));

  test('equal when only the batch dimension differs', () => {
    assert.equal(key([['x', 'float32', [1, 3, 4]]]), key([['x', 'float32', [9, 3, 4]]]));
    assert.equal(key([['x', 'float32', [1, 3]], ['m', 'bool', [1, 2]]]), key([['x', 'float32', [5, 3]], ['m', 'bool', [5, 2]]]));
    assert.equal(key([['x', 'int64', [2]]]), key([['x', 'int64', [8]]]));
  });

  test('differs when a non-batch dimension differs', () => {
    assert.notEqual(key([['x', 'float32', [1, 3, 4]]]), key([['x', 'float32', [1, 4, 3]]]));
    assert.notEqual(key([['x', 'float32', [1, 3, 4]]]), key([['x', 'float32', [1, 3, 5]]]));
    assert.notEqual(key([['x', 'float32', [1, 3]], ['m', 'bool', [1, 2]]]), key([['x', 'float32', [1, 3]], ['m', 'bool', [1, 3]]]));
  });

  test('differs when the rank differs, including ranks whose digits would run together', () => {
    assert.notEqual(key([['x', 'float32', [1, 3]]]), key([['x', 'float32', [1, 3, 1]]]));
    assert.notEqual(key([['x', 'float32', [1, 31]]]), key([['x', 'float32', [1, 3, 1]]]));
    assert.notEqual(key([['x', 'float32', [1, 1, 11]]]), key([['x', 'float32', [1, 11, 1]]]));
    assert.notEqual(key([['x', 'float32', [1, 0]]]), key([['x', 'float32', [1]]]));
  });

  test('differs when a dtype differs', () => {
    const dtypes: DType[] = ['float32', 'float64', 'int32', 'int64', 'bool'];
    const keys = new Set(dtypes.map((d) => key([['x', d, [1, 2]]])));
    assert.equal(keys.size, dtypes.length);
    assert.notEqual(key([['x', 'float32', [1, 2]], ['m', 'bool', [1]]]), key([['x', 'float32', [1, 2]], ['m', 'uint8', [1]]]));
  });

  test('float16 and uint8 count as the float32 they become, so mixed requests of a float32 input share batches', () => {
    const f32 = key([['x', 'float32', [1, 3, 2]]]);
    assert.equal(key([['x', 'float16', [1, 3, 2]]]), f32);
    assert.equal(key([['x', 'uint8', [4, 3, 2]]]), f32);
    assert.notEqual(key([['x', 'float16', [1, 3, 3]]]), f32);
  });

  test('differs when input names differ', () => {
    assert.notEqual(key([['x', 'float32', [1, 2]]]), key([['y', 'float32', [1, 2]]]));
  });
});

describe('checkRequest: compact dtypes (float16, uint8) for float32 inputs', () => {
  const NCHW: Normalization = { scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], channelAxis: 1 };

  test('a float32 input takes float16 and uint8 tensors as they are (converted later, when the batch is built)', () => {
    for (const d of ['float16', 'uint8'] as DType[]) {
      const image = t(d, [2, 3, 4, 4]);
      const out = expectOk(checkRequest(req([['image', image], ['mask', t('bool', [2, 4])]]), [IMAGE, MASK]));
      assert.equal(out.inputs.get('image'), image, `${d} passes untouched`);
      expectOk(checkRequest(req([['image', image], ['mask', t('bool', [2, 4])]]), [IMAGE, MASK], NCHW));
    }
  });

  test('another dtype is refused with what the input takes; compact dtypes feed float32 inputs only', () => {
    const r = req([['image', t('int32', [1, 3, 4, 4])], ['mask', t('bool', [1, 4])]]);
    expectShapeError(checkRequest(r, [IMAGE, MASK]), r, 'input image: dtype int32, expected float32 (or float16 or uint8, converted to float32)');
    const wide = info('x', 'float64', ['n', 2]);
    const r2 = req([['x', t('float16', [1, 2])]]);
    expectShapeError(checkRequest(r2, [wide]), r2, 'input x: dtype float16, expected float64');
    const r3 = req([['image', t('float32', [1, 3, 4, 4])], ['mask', t('uint8', [1, 4])]]);
    expectShapeError(checkRequest(r3, [IMAGE, MASK]), r3, 'input mask: dtype uint8, expected bool');
    const half = info('h', 'float16', ['n', 2]);
    expectOk(checkRequest(req([['h', t('float16', [1, 2])]]), [half]));
    const r4 = req([['h', t('float32', [1, 2])]]);
    expectShapeError(checkRequest(r4, [half]), r4, 'input h: dtype float32, expected float16');
  });

  test('a normalisation whose channels do not fit the uint8 tensor fails that request, naming the axis and sizes', () => {
    const anyShape = info('image', 'float32', ['batch', 'c', 'h', 'w']);
    const r = req([['image', t('uint8', [1, 4, 4, 3])]]);
    expectShapeError(checkRequest(r, [anyShape], NCHW), r, 'input image: decode.normalize has 3 channels, shape [1, 4, 4, 3] has 4 along channelAxis 1');
    expectOk(checkRequest(req([['image', t('uint8', [1, 4, 4, 3])]]), [anyShape], { ...NCHW, channelAxis: -1 }));
    const flat = info('v', 'float32', ['batch']);
    const r2 = req([['v', t('uint8', [5])]]);
    expectShapeError(checkRequest(r2, [flat], NCHW), r2, 'channelAxis 1 is not a dimension of shape [5]');
    // One mean and std for all: any shape; float16 and float32 tensors are never normalised, so never checked.
    expectOk(checkRequest(req([['v', t('uint8', [5])]]), [flat], { scale: 2, mean: [1], std: [3], channelAxis: 1 }));
    expectOk(checkRequest(req([['v', t('float16', [5])]]), [flat], NCHW));
  });

  test('a bad dtype fails that request alone, next to good ones of every wire dtype', async () => {
    const good = (uri: string, d: DType): InferenceRequest => req([['image', t(d, [1, 3, 4, 4])], ['mask', t('bool', [1, 4])]], uri);
    const bad = req([['image', t('int64', [1, 3, 4, 4])], ['mask', t('bool', [1, 4])]], 'bad');
    const out = await firstValueFrom(from([good('a', 'float32'), good('b', 'uint8'), bad, good('c', 'float16')]).pipe(checkInputs([IMAGE, MASK], NCHW), toArray()));
    assert.deepEqual(out.map((x) => [x.uri, x.kind]), [['a', 'request'], ['b', 'request'], ['bad', 'result'], ['c', 'request']]);
    expectShapeError(out[2]!, bad, 'int64');
  });
});
