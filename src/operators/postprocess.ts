import { map, type OperatorFunction } from 'rxjs';
import type { PostprocessSpec } from '../topology/schema';
import { okResult, type InferenceResult } from '../tensor/records';
import { elementCount, tensorFrom, toValues, type Tensor } from '../tensor/tensor';

function rowsAndWidth(t: Tensor): [number, number] {
  const width = t.shape.length === 0 ? 1 : (t.shape[t.shape.length - 1] ?? 1);
  return [width === 0 ? 0 : elementCount(t.shape) / width, width];
}

/** Softmax over the last dimension of a float tensor (other dtypes pass through). */
export function softmax(t: Tensor): Tensor {
  if (t.dtype !== 'float32' && t.dtype !== 'float64' && t.dtype !== 'float16') return t;
  const x = toValues(t) as Float32Array | Float64Array;
  const [rows, width] = rowsAndWidth(t);
  const out = new Float32Array(x.length);
  for (let r = 0; r < rows; r++) {
    const o = r * width;
    let max = -Infinity;
    for (let i = 0; i < width; i++) max = Math.max(max, x[o + i]!);
    let sum = 0;
    for (let i = 0; i < width; i++) sum += out[o + i] = Math.exp(x[o + i]! - max);
    for (let i = 0; i < width; i++) out[o + i]! /= sum;
  }
  return tensorFrom(out, t.shape);
}

/** The n largest entries of the last dimension: int32 indices and float32 scores, best first. */
export function topN(t: Tensor, n: number): { indices: Tensor; scores: Tensor } {
  const x = toValues(t);
  const [rows, width] = rowsAndWidth(t);
  const k = Math.min(n, width);
  const indices = new Int32Array(rows * k);
  const scores = new Float32Array(rows * k);
  const order = Array.from({ length: width }, (_, i) => i);
  for (let r = 0; r < rows; r++) {
    const o = r * width;
    const value = (i: number): number => Number(x[o + i]!);
    order.sort((a, b) => value(b) - value(a) || a - b);
    for (let j = 0; j < k; j++) {
      indices[r * k + j] = order[j]!;
      scores[r * k + j] = value(order[j]!);
    }
  }
  const shape = [...t.shape.slice(0, -1), k];
  return { indices: tensorFrom(indices, shape), scores: tensorFrom(scores, shape) };
}

/**
 * The index of the largest entry of each row (the last dimension), as int32 with the last dimension dropped:
 * [rows, classes] → [rows]. Ties go to the first index; NaN is never the largest.
 */
export function argmax(t: Tensor): Tensor {
  const x = toValues(t);
  const [rows, width] = rowsAndWidth(t);
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    const o = r * width;
    let best = 0;
    let max = -Infinity;
    for (let i = 0; i < width; i++) {
      const v = Number(x[o + i]!);
      if (v > max) {
        max = v;
        best = i;
      }
    }
    out[r] = best;
  }
  return tensorFrom(out, t.shape.slice(0, -1));
}

/**
 * The built-in postprocess step (SPEC §4), applied to every output of a result: `none`, `softmax` (over
 * the last dimension), `argmax` (`o` becomes `o_argmax`, int32 per row) or `topN` (`o` becomes
 * `o_indices` int32 and `o_scores` float32). All stay tensors on the wire.
 */
export function postprocess(spec: PostprocessSpec): OperatorFunction<InferenceResult, InferenceResult> {
  return map((res) => {
    if (!res.outputs || spec.type === 'none') return res;
    const outputs = new Map<string, Tensor>();
    for (const [name, t] of res.outputs) {
      if (spec.type === 'softmax') outputs.set(name, softmax(t));
      else if (spec.type === 'argmax') outputs.set(`${name}_argmax`, argmax(t));
      else {
        const { indices, scores } = topN(t, spec.n);
        outputs.set(`${name}_indices`, indices);
        outputs.set(`${name}_scores`, scores);
      }
    }
    return okResult(res, outputs);
  });
}
