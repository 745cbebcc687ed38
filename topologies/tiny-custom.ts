/*
 * tiny-custom.ts — the tiny model (input `input` float32 [batch, 16] → output `output` float32 [batch, 8])
 * as a TypeScript topology, in the Flink DataStream style, with user-defined steps.
 *
 * Submit it with `cs job submit topologies/tiny-custom.ts`: it is type-checked, then shipped to the
 * TaskManagers and loaded there with ts-node (they need no copy of it).
 *
 *   topology(name)        job name; also the default stream key
 *   .source(...)          where requests come from (same fields as `source` in YAML)
 *   .decode(...)          how payloads become tensors (optional; tensor by default)
 *   .map / .pipe / .filter before .batch
 *                         request steps: run on each decoded InferenceRequest before batching
 *   .batch(...)           a batch closes at maxSize requests or maxDelayMs after its first
 *   .infer(...)           the model: path relative to this file, threads, instances per slot
 *   .postprocess(...)     optional built-in right after infer: 'none' | 'softmax' | { type: 'topN', n }
 *   .map / .pipe / .filter after .infer
 *                         result steps: run on each InferenceResult before the sink
 *   .sink(...)            where results go (optional; Redis by default)
 *   .parallelism(n)       slots (subtasks) that run the job
 *
 * A step that throws turns into an error result for that one request; the job keeps running.
 *
 * What this one adds to each successful result, next to `output`:
 *   sum     float32 [1]  the sum of the request's 8 `output` values
 *   argmax  int32 [1]    the index of the largest `output` value
 */
import { topology, tensorFrom, toTypedArray, type InferenceRequest, type InferenceResult, type Tensor } from 'cluster-serving';
import { map } from 'rxjs';

/** Request step: refuse, with a clear message, requests that lack the model's input. */
function requireInput(request: InferenceRequest): InferenceRequest {
  const input = request.inputs.get('input');
  if (input === undefined) throw new Error('tiny-custom needs a float32 tensor named "input" of 16 values');
  if (input.dtype !== 'float32') throw new Error(`tiny-custom needs "input" as float32, got ${input.dtype}`);
  return request;
}

/** The float32 values of the result's `output`, or undefined for error results. */
function outputValues(result: InferenceResult): Float32Array | undefined {
  const output: Tensor | undefined = result.outputs?.get('output');
  if (output === undefined || output.dtype !== 'float32') return undefined;
  return toTypedArray(output) as Float32Array;
}

/** Returns the result with one more named output. */
function withOutput(result: InferenceResult, name: string, tensor: Tensor): InferenceResult {
  return { ...result, outputs: new Map([...(result.outputs ?? []), [name, tensor]]) };
}

/** Result step (plain function): sum of `output`. */
function appendSum(result: InferenceResult): InferenceResult {
  const values = outputValues(result);
  if (values === undefined) return result;
  let sum = 0;
  for (const v of values) sum += v;
  return withOutput(result, 'sum', tensorFrom(new Float32Array([sum]), [1]));
}

/** Result step (RxJS operator): index of the largest `output` value. */
function appendArgmax(result: InferenceResult): InferenceResult {
  const values = outputValues(result);
  if (values === undefined || values.length === 0) return result;
  let best = 0;
  values.forEach((v, i) => {
    if (v > (values[best] ?? -Infinity)) best = i;
  });
  return withOutput(result, 'argmax', tensorFrom(new Int32Array([best]), [1]));
}

export default topology('tiny-custom')
  .source({ type: 'redis', stream: 'tiny-custom' })
  .decode({ type: 'tensor' })
  .map('require-input', requireInput)
  .batch({ maxSize: 32, maxDelayMs: 2 })
  .infer({ path: '../models/tiny.onnx', threads: 1 })
  .postprocess('none')
  .map('append-sum', appendSum)
  .pipe('append-argmax', map(appendArgmax))
  .sink({ type: 'redis', resultTtlMs: 60_000 })
  .parallelism(1);
