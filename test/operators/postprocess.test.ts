import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { firstValueFrom, from, toArray } from 'rxjs';
import { argmax, postprocess, softmax, topN } from '../../src/operators/postprocess';
import { errorResult, okResult, type InferenceResult } from '../../src/tensor/records';
import { tensorFrom, toTypedArray, type Tensor } from '../../src/tensor/tensor';
import type { PostprocessSpec } from '../../src/topology/schema';

const values = (t: Tensor): number[] => [...(toTypedArray(t) as Float32Array | Int32Array | Float64Array)].map(Number);

/** Softmax of each row in float64, the textbook way (with the max subtracted). */
function reference(x: readonly number[], width: number): number[] {
  const out: number[] = [];
  for (let o = 0; o < x.length; o += width) {
    const row = x.slice(o, o + width);
    const max = Math.max(...row);
    const e = row.map((v) => Math.exp(v - max));
    const sum = e.reduce((a, b) => a + b, 0);
    out.push(...e.map((v) => v / sum));
  }
  return out;
}

function assertClose(actual: readonly number[], expected: readonly number[], tol: number, what = 'values'): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    assert.ok(Number.isFinite(actual[i]!), `${what}[${i}] = ${actual[i]} is not finite`);
    assert.ok(Math.abs(actual[i]! - expected[i]!) <= tol, `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

function rowSums(x: readonly number[], width: number): number[] {
  const sums: number[] = [];
  for (let o = 0; o < x.length; o += width) sums.push(x.slice(o, o + width).reduce((a, b) => a + b, 0));
  return sums;
}

const ref = { split: 's', entryId: '1-0' };
function result(outputs: Map<string, Tensor>, uri = 'u'): InferenceResult {
  return okResult({ uri, ref, replyTo: 'reply', receivedAt: 7 }, outputs);
}

async function run(spec: PostprocessSpec, inputs: InferenceResult[]): Promise<InferenceResult[]> {
  return firstValueFrom(from(inputs).pipe(postprocess(spec), toArray()));
}

describe('softmax', () => {
  test('rows sum to 1 and match a float64 reference within 1e-6', () => {
    const x = [0.1, -2, 3.5, 0, 1, 1, 1, 1, -0.5, 0.25, 7, -7];
    const out = softmax(tensorFrom(new Float32Array(x), [3, 4]));
    assert.deepEqual(out.shape, [3, 4]);
    assert.equal(out.dtype, 'float32');
    const got = values(out);
    assertClose(got, reference([...new Float32Array(x)], 4), 1e-6);
    assertClose(rowSums(got, 4), [1, 1, 1], 1e-6, 'row sums');
  });

  test('large logits (±1e4, ±3e38) neither overflow nor give NaN', () => {
    const x = [1000, 1001, 1002, 10000, 10000, -10000, 3e38, 3.4e38, -3.4e38, -1000, -1001, -1002];
    const out = values(softmax(tensorFrom(new Float32Array(x), [4, 3])));
    assertClose(out, reference([...new Float32Array(x)], 3), 1e-6);
    assertClose(rowSums(out, 3), [1, 1, 1, 1], 1e-6, 'row sums');
    assert.ok(out[6]! < 1e-6 && out[7]! > 1 - 1e-6, 'the largest entry takes everything');
  });

  test('float64 input matches the reference and sums to 1', () => {
    const x = Float64Array.from({ length: 30 }, (_, i) => Math.sin(i) * 20);
    const out = values(softmax(tensorFrom(x, [5, 6])));
    assertClose(out, reference([...x], 6), 1e-6);
    assertClose(rowSums(out, 6), [1, 1, 1, 1, 1], 1e-6, 'row sums');
  });

  test('over the last dimension of a rank-3 tensor; uniform rows give 1/width', () => {
    const x = new Float32Array(2 * 3 * 5).fill(4);
    const out = softmax(tensorFrom(x, [2, 3, 5]));
    assert.deepEqual(out.shape, [2, 3, 5]);
    assertClose(values(out), new Array<number>(30).fill(0.2), 1e-7);
  });

  test('a width of 1 gives 1; a rank-1 tensor is one row', () => {
    assertClose(values(softmax(tensorFrom(new Float32Array([-5, 0, 9]), [3, 1]))), [1, 1, 1], 1e-7);
    const v = [1, 2, 3];
    assertClose(values(softmax(tensorFrom(new Float32Array(v), [3]))), reference(v, 3), 1e-6);
  });

  test('-Infinity logits get probability 0', () => {
    const out = values(softmax(tensorFrom(new Float32Array([-Infinity, 0, 0]), [1, 3])));
    assertClose(out, [0, 0.5, 0.5], 1e-7);
  });

  test('does not modify its input', () => {
    const x = new Float32Array([1, 2, 3, 4]);
    softmax(tensorFrom(x, [2, 2]));
    assert.deepEqual([...x], [1, 2, 3, 4]);
  });

  test('non-float tensors pass through unchanged', () => {
    const t = tensorFrom(new Int32Array([1, 2, 3]), [1, 3]);
    assert.equal(softmax(t), t);
  });

  test('an empty tensor stays empty', () => {
    const out = softmax(tensorFrom(new Float32Array(0), [0, 4]));
    assert.deepEqual(out.shape, [0, 4]);
    assert.equal(out.data.byteLength, 0);
  });
});

describe('topN', () => {
  test('indices and scores, best first, one row', () => {
    const { indices, scores } = topN(tensorFrom(new Float32Array([0.1, 0.7, 0.05, 0.15]), [1, 4]), 2);
    assert.equal(indices.dtype, 'int32');
    assert.equal(scores.dtype, 'float32');
    assert.deepEqual(indices.shape, [1, 2]);
    assert.deepEqual(scores.shape, [1, 2]);
    assert.deepEqual(values(indices), [1, 3]);
    assertClose(values(scores), [0.7, 0.15], 1e-7);
  });

  test('ties are stable: the lower index comes first', () => {
    const { indices, scores } = topN(tensorFrom(new Float32Array([0.2, 0.5, 0.2, 0.5, 0.2, 0.1]), [1, 6]), 5);
    assert.deepEqual(values(indices), [1, 3, 0, 2, 4]);
    assertClose(values(scores), [0.5, 0.5, 0.2, 0.2, 0.2], 1e-7);
    const all = topN(tensorFrom(new Float32Array(8).fill(3), [8]), 8);
    assert.deepEqual(values(all.indices), [0, 1, 2, 3, 4, 5, 6, 7]);
  });

  test('n larger than the width returns the whole row, sorted', () => {
    const { indices, scores } = topN(tensorFrom(new Float32Array([3, 1, 2]), [1, 3]), 10);
    assert.deepEqual(indices.shape, [1, 3]);
    assert.deepEqual(scores.shape, [1, 3]);
    assert.deepEqual(values(indices), [0, 2, 1]);
    assert.deepEqual(values(scores), [3, 2, 1]);
  });

  test('multiple rows are ranked independently (a later row is not ordered by an earlier one)', () => {
    const x = [
      [5, 4, 3, 2, 1],
      [1, 2, 3, 4, 5],
      [2, 9, 2, 9, 0],
      [0, 0, 0, 0, 1],
    ];
    const { indices, scores } = topN(tensorFrom(new Float32Array(x.flat()), [4, 5]), 3);
    assert.deepEqual(indices.shape, [4, 3]);
    assert.deepEqual(values(indices), [0, 1, 2, 4, 3, 2, 1, 3, 0, 4, 0, 1]);
    assert.deepEqual(values(scores), [5, 4, 3, 5, 4, 3, 9, 9, 2, 1, 0, 0]);
  });

  test('rank-3 input keeps its leading dimensions', () => {
    const x = Float32Array.from({ length: 2 * 3 * 4 }, (_, i) => (i * 7) % 11);
    const { indices, scores } = topN(tensorFrom(x, [2, 3, 4]), 2);
    assert.deepEqual(indices.shape, [2, 3, 2]);
    assert.deepEqual(scores.shape, [2, 3, 2]);
    const xs = [...x];
    const idx = values(indices);
    for (let r = 0; r < 6; r++) {
      const row = xs.slice(r * 4, r * 4 + 4);
      const expected = row.map((v, i) => [v, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, 2).map(([, i]) => i);
      assert.deepEqual(idx.slice(r * 2, r * 2 + 2), expected, `row ${r}`);
    }
  });

  test('negative values, float64 and int32 inputs', () => {
    assert.deepEqual(values(topN(tensorFrom(new Float32Array([-3, -1, -2]), [1, 3]), 1).indices), [1]);
    const f64 = topN(tensorFrom(new Float64Array([0.5, 0.25, 0.75]), [1, 3]), 2);
    assert.deepEqual(values(f64.indices), [2, 0]);
    assert.deepEqual(values(f64.scores), [0.75, 0.5]);
    const i32 = topN(tensorFrom(new Int32Array([10, -20, 30, 30]), [2, 2]), 1);
    assert.deepEqual(values(i32.indices), [0, 0]);
    assert.deepEqual(values(i32.scores), [10, 30]);
  });

  test('does not modify its input', () => {
    const x = new Float32Array([1, 3, 2]);
    topN(tensorFrom(x, [1, 3]), 2);
    assert.deepEqual([...x], [1, 3, 2]);
  });
});

describe('argmax', () => {
  test('one int32 index per row, the last dimension dropped; ties go to the first', () => {
    const out = argmax(tensorFrom(new Float32Array([0.1, 0.7, 0.05, 0.7, -1, -3, -2, -5]), [2, 4]));
    assert.equal(out.dtype, 'int32');
    assert.deepEqual(out.shape, [2]);
    assert.deepEqual(values(out), [1, 0]);
  });

  test('agrees with topN(1) on every row of a rank-3 tensor, for float64 and int64 too', () => {
    const x = Float32Array.from({ length: 2 * 3 * 7 }, (_, i) => Math.sin(i * 1.7) * 10);
    const a = argmax(tensorFrom(x, [2, 3, 7]));
    assert.deepEqual(a.shape, [2, 3]);
    assert.deepEqual(values(a), values(topN(tensorFrom(x, [2, 3, 7]), 1).indices));
    assert.deepEqual(values(argmax(tensorFrom(new Float64Array([1, 5, 2]), [1, 3]))), [1]);
    assert.deepEqual(values(argmax(tensorFrom(new BigInt64Array([7n, -2n, 9n]), [3]))), [2]);
  });

  test('NaN is never the largest; a rank-1 tensor gives a scalar', () => {
    const out = argmax(tensorFrom(new Float32Array([NaN, 1, 3, NaN]), [4]));
    assert.deepEqual(out.shape, []);
    assert.deepEqual(values(out), [2]);
  });
});

describe('postprocess operator', () => {
  const logits = (): Map<string, Tensor> =>
    new Map([
      ['probs', tensorFrom(new Float32Array([1, 3, 2, 0, 0, 5]), [2, 3])],
      ['aux', tensorFrom(new Float32Array([9, 8]), [1, 2])],
    ]);

  test('none: results pass through untouched (same object)', async () => {
    const r = result(logits());
    const [out] = await run({ type: 'none' }, [r]);
    assert.equal(out, r);
  });

  test('softmax: every output becomes its softmax, names kept, identity fields kept', async () => {
    const r = result(logits(), 'uri-s');
    const [out] = await run({ type: 'softmax' }, [r]);
    assert.ok(out);
    assert.equal(out.error, undefined);
    assert.equal(out.uri, 'uri-s');
    assert.deepEqual(out.ref, ref);
    assert.equal(out.replyTo, 'reply');
    assert.equal(out.receivedAt, 7);
    assert.deepEqual([...out.outputs!.keys()], ['probs', 'aux']);
    assertClose(values(out.outputs!.get('probs')!), reference([1, 3, 2, 0, 0, 5], 3), 1e-6);
    assert.deepEqual(out.outputs!.get('probs')!.shape, [2, 3]);
    assertClose(values(out.outputs!.get('aux')!), reference([9, 8], 2), 1e-6);
  });

  test('topN: each output o becomes o_indices (int32) and o_scores (float32)', async () => {
    const [out] = await run({ type: 'topN', n: 2 }, [result(logits())]);
    assert.ok(out?.outputs);
    assert.deepEqual([...out.outputs.keys()], ['probs_indices', 'probs_scores', 'aux_indices', 'aux_scores']);
    const pi = out.outputs.get('probs_indices')!;
    const ps = out.outputs.get('probs_scores')!;
    assert.equal(pi.dtype, 'int32');
    assert.equal(ps.dtype, 'float32');
    assert.deepEqual(pi.shape, [2, 2]);
    assert.deepEqual(values(pi), [1, 2, 2, 0]);
    assert.deepEqual(values(ps), [3, 2, 5, 0]);
    assert.deepEqual(values(out.outputs.get('aux_indices')!), [0, 1]);
    assert.deepEqual(values(out.outputs.get('aux_scores')!), [9, 8]);
  });

  test('argmax: each output o becomes o_argmax (int32, one per row)', async () => {
    const [out] = await run({ type: 'argmax' }, [result(logits())]);
    assert.ok(out?.outputs);
    assert.deepEqual([...out.outputs.keys()], ['probs_argmax', 'aux_argmax']);
    const p = out.outputs.get('probs_argmax')!;
    assert.equal(p.dtype, 'int32');
    assert.deepEqual(p.shape, [2]);
    assert.deepEqual(values(p), [1, 2]);
    assert.deepEqual(values(out.outputs.get('aux_argmax')!), [0]);
  });

  for (const spec of [{ type: 'none' }, { type: 'softmax' }, { type: 'argmax' }, { type: 'topN', n: 3 }] as PostprocessSpec[]) {
    test(`${spec.type}: error results pass through untouched, neighbours are processed, order kept`, async () => {
      const err = errorResult({ uri: 'bad', ref, replyTo: undefined, receivedAt: 1 }, { code: 'CS_ERR_INFERENCE', message: 'boom' });
      const frozen = JSON.stringify(err);
      const a = result(logits(), 'a');
      const b = result(logits(), 'b');
      const out = await run(spec, [a, err, b]);
      assert.deepEqual(out.map((r) => r.uri), ['a', 'bad', 'b']);
      assert.equal(out[1], err);
      assert.equal(JSON.stringify(out[1]), frozen);
      assert.equal(out[0]!.error, undefined);
      assert.ok(out[0]!.outputs && out[2]!.outputs);
    });
  }

  test('empty source completes with nothing', async () => {
    assert.deepEqual(await run({ type: 'softmax' }, []), []);
  });
});
