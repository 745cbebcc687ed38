import { map, type OperatorFunction } from 'rxjs';
import type { TensorInfo } from '../runtime/model-runtime';
import { errorResult, type InferenceRequest, type InferenceResult } from '../tensor/records';
import type { DType, Tensor } from '../tensor/tensor';
import { acceptedDtypes, convertible, normalizationProblem, type Normalization } from '../tensor/wire-dtypes';

function describe(info: TensorInfo): string {
  return `${info.dtype ?? '?'} [${info.shape.join(', ')}]`;
}

/**
 * Checks one request against the model's declared inputs and renames its tensors to the model's input
 * names. Tensors match by name; when no name matches and the counts agree, they match by position (the
 * way BigDL clients send them). The leading dimension is the batch: any size ≥ 1 per request; every
 * other fixed dimension must match. A float32 input also takes float16 and uint8 tensors (converted while
 * the batch is built; uint8 normalised by `normalize` when given, which must then fit the tensor's shape).
 * A mismatch is an error result naming the input and what was expected.
 */
export function checkRequest(req: InferenceRequest, inputs: readonly TensorInfo[], normalize?: Normalization): InferenceRequest | InferenceResult {
  const fail = (message: string): InferenceResult => errorResult(req, { code: 'CS_ERR_SHAPE', message });
  const given = [...req.inputs];
  const byName = inputs.every((i) => req.inputs.has(i.name));
  const someNamed = given.some(([n]) => inputs.some((i) => i.name === n));
  if (!byName && someNamed) {
    const missing = inputs.filter((i) => !req.inputs.has(i.name)).map((i) => `${i.name}: ${describe(i)}`);
    const unknown = given.map(([n]) => n).filter((n) => !inputs.some((i) => i.name === n));
    return fail(`missing input(s) ${missing.join('; ')}${unknown.length ? `; unknown input(s) ${unknown.join(', ')}` : ''} (model inputs: ${inputs.map((i) => `${i.name}: ${describe(i)}`).join('; ')})`);
  }
  if (!byName && given.length !== inputs.length) {
    return fail(`model takes ${inputs.length} input(s) (${inputs.map((i) => `${i.name}: ${describe(i)}`).join('; ')}); request has ${given.length} (${given.map(([n]) => n).join(', ')})`);
  }
  if (byName && given.length !== inputs.length) {
    const extra = given.map(([n]) => n).filter((n) => !inputs.some((i) => i.name === n));
    return fail(`unknown input(s) ${extra.join(', ')}; model inputs are ${inputs.map((i) => i.name).join(', ')}`);
  }
  const renamed = new Map<string, Tensor>();
  let rows = -1;
  for (let k = 0; k < inputs.length; k++) {
    const info = inputs[k]!;
    const t = byName ? req.inputs.get(info.name)! : given[k]![1];
    if (!convertible(t.dtype, info.dtype)) return fail(`input ${info.name}: dtype ${t.dtype}, expected ${expectedDtypes(info.dtype!)}`);
    if (normalize && t.dtype === 'uint8' && info.dtype === 'float32') {
      const problem = normalizationProblem(t.shape, normalize);
      if (problem) return fail(`input ${info.name}: ${problem}`);
    }
    if (info.shape.length > 0) {
      if (t.shape.length !== info.shape.length) return fail(`input ${info.name}: shape [${t.shape.join(', ')}] has rank ${t.shape.length}, expected rank ${info.shape.length} ${describe(info)}`);
      for (let d = 1; d < info.shape.length; d++) {
        const want = info.shape[d];
        if (typeof want === 'number' && want >= 0 && t.shape[d] !== want) return fail(`input ${info.name}: shape [${t.shape.join(', ')}], expected ${describe(info)}`);
      }
      const fixedBatch = info.shape[0];
      if (typeof fixedBatch === 'number' && fixedBatch > 0 && t.shape[0] !== fixedBatch) return fail(`input ${info.name}: batch dimension ${t.shape[0]}, the model fixes it at ${fixedBatch}`);
    }
    const r = t.shape[0] ?? 1;
    if (r < 1) return fail(`input ${info.name}: empty batch dimension`);
    if (rows !== -1 && r !== rows) return fail(`inputs disagree on the batch dimension (${rows} vs ${r} in ${info.name})`);
    rows = r;
    renamed.set(info.name, t);
  }
  return { ...req, inputs: renamed };
}

function expectedDtypes(dtype: DType): string {
  const accepted = acceptedDtypes(dtype);
  return accepted.length === 1 ? dtype : `${dtype} (or ${accepted.slice(1).join(' or ')}, converted to ${dtype})`;
}

/** The operator form of {@link checkRequest}, passing results (earlier errors) through untouched. */
export function checkInputs(inputs: readonly TensorInfo[], normalize?: Normalization): OperatorFunction<InferenceRequest | InferenceResult, InferenceRequest | InferenceResult> {
  return map((x) => (x.kind === 'request' ? checkRequest(x, inputs, normalize) : x));
}

/** Rows (leading dimension) a checked request contributes to a batch. */
export function requestRows(req: InferenceRequest): number {
  const first = req.inputs.values().next().value as Tensor | undefined;
  return first?.shape[0] ?? 1;
}

/**
 * The dtype a checked tensor has once in its batch: float16 and uint8 tensors of an input only ever meet
 * float32 ones there (checkRequest lets them through for float32 inputs alone), so they batch together.
 */
function batchDtype(dtype: DType): DType {
  return dtype === 'float16' || dtype === 'uint8' ? 'float32' : dtype;
}

/**
 * Requests share a batch only when every input agrees on dtype (the compact dtypes counting as the float32
 * they become) and on every dimension but the first.
 */
export function shapeKey(req: InferenceRequest): string {
  let key = '';
  for (const [name, t] of req.inputs) key += `${name}:${batchDtype(t.dtype)}:${t.shape.slice(1).join('x')};`;
  return key;
}
