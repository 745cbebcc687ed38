/**
 * The tiny model: one dense layer, `input` float32 [batch, 16] → MatMul W [16, 8] + Add bias [8] →
 * `output` float32 [batch, 8]. Cheap enough that serving overhead, not inference, dominates.
 */
import { BATCH_DIM, OnnxGraphBuilder } from './onnx-graph';
import { SeededRandom } from './seeded-random';

/** Features per row of the tiny model's `input`. */
export const TINY_INPUT_SIZE = 16;

/** Values per row of the tiny model's `output`. */
export const TINY_OUTPUT_SIZE = 8;

const TINY_SEED = 0x7e1e;

/** The tiny model's parameters: `weight` row-major [16, 8], `bias` [8]. */
export interface TinyWeights {
  readonly weight: Float32Array;
  readonly bias: Float32Array;
}

/** The tiny model's weights, regenerated from its fixed seed (fresh arrays on every call). */
export function tinyWeights(): TinyWeights {
  const rng = new SeededRandom(TINY_SEED);
  const weight = rng.heNormal(TINY_INPUT_SIZE * TINY_OUTPUT_SIZE, TINY_INPUT_SIZE, Math.SQRT1_2);
  const bias = rng.normalArray(TINY_OUTPUT_SIZE, 0.1);
  return { weight, bias };
}

/** Builds the tiny model as ONNX bytes (deterministic). */
export function buildTinyModel(): Uint8Array {
  const { weight, bias } = tinyWeights();
  const g = new OnnxGraphBuilder();
  g.addInput('input', [BATCH_DIM, TINY_INPUT_SIZE]);
  g.addInitializer('W', [TINY_INPUT_SIZE, TINY_OUTPUT_SIZE], weight);
  g.addInitializer('B', [TINY_OUTPUT_SIZE], bias);
  g.addNode('MatMul', ['input', 'W'], ['matmul_out'], {}, 'matmul');
  g.addNode('Add', ['matmul_out', 'B'], ['output'], {}, 'add_bias');
  g.addOutput('output', [BATCH_DIM, TINY_OUTPUT_SIZE]);
  return g.build({ graphName: 'tiny_mlp', docString: 'cluster-serving tiny model: [batch,16] x W[16,8] + b[8]' });
}

/**
 * Pure-JS reference of the tiny model: `input` is row-major [batch, 16], the result row-major [batch, 8].
 * Accumulates in float64, so it is at least as accurate as onnxruntime's float32 kernel.
 */
export function tinyReference(input: Float32Array, batch: number): Float32Array {
  if (input.length !== batch * TINY_INPUT_SIZE) {
    throw new Error(`tinyReference: expected ${batch * TINY_INPUT_SIZE} values, got ${input.length}`);
  }
  const { weight, bias } = tinyWeights();
  const out = new Float32Array(batch * TINY_OUTPUT_SIZE);
  for (let b = 0; b < batch; b++) {
    for (let j = 0; j < TINY_OUTPUT_SIZE; j++) {
      let acc = bias[j] ?? 0;
      for (let i = 0; i < TINY_INPUT_SIZE; i++) {
        acc += (input[b * TINY_INPUT_SIZE + i] ?? 0) * (weight[i * TINY_OUTPUT_SIZE + j] ?? 0);
      }
      out[b * TINY_OUTPUT_SIZE + j] = acc;
    }
  }
  return out;
}
