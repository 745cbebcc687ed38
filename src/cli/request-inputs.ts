import type { ModelTensorStatus } from '../cluster-api/dto';
import { ClusterServingError } from '../errors';
import { DTYPE_BYTES, isDType, type DType, type Tensor } from '../tensor/tensor';
import { elementCodec } from './tensor-files/element-codecs';
import { readInputFile, type InputFileFlags, type InputTarget } from './tensor-files/read-input-file';
import type { ServingTarget } from './serving-target';

function bad(message: string): ClusterServingError {
  return new ClusterServingError('CS_ERR_BAD_REQUEST', message);
}

function describe(i: ModelTensorStatus): string {
  return `${i.name} (${i.dtype} [${i.shape.map((d) => (d < 0 ? '?' : String(d))).join(', ')}])`;
}

/** `NAME=FILE` or a bare `FILE`. */
function splitSpec(spec: string): { name: string | undefined; file: string } {
  const m = /^([A-Za-z_][\w.:/-]*?)=(.+)$/.exec(spec);
  return m ? { name: m[1], file: m[2]! } : { name: undefined, file: spec };
}

/** Why an image cannot go into this input, or undefined when it can (or when that is unknown). */
function imageRefusal(target: ServingTarget, name: string): string | undefined {
  const images = target.imageInputs;
  if (images === undefined || images.has(name)) return undefined;
  if (images.size === 0) return `${target.label} does not decode images (its topology has no decode: image); send a tensor instead (.npy, .json, or raw bytes with --dtype and --shape)`;
  return `input ${name} of ${target.label} does not take images; its image inputs are ${[...images].join(', ')}`;
}

/**
 * The request's named tensors from `--input NAME=FILE` (and a positional `FILE` for a single-input
 * model): each file is read by {@link readInputFile} against the model input of its name. With the
 * model's declared inputs known, an unknown, repeated or missing input name is refused here, listing the
 * model's inputs; without them (`--stream`) a bare FILE is sent as `input` (the server matches a lone
 * tensor by position).
 *
 * @throws ClusterServingError CS_ERR_BAD_REQUEST, one line.
 */
export async function readRequestInputs(specs: readonly string[], target: ServingTarget, flags: InputFileFlags): Promise<Map<string, Tensor>> {
  if (specs.length === 0) throw bad('no input: give FILE (a .npy, .json, image or raw file) or --input NAME=FILE');
  const declared = target.inputs;
  const parsed = specs.map(splitSpec);
  const bare = parsed.filter((p) => p.name === undefined);
  if (bare.length > 0 && parsed.length > 1) throw bad(`with several inputs, name each one: --input NAME=FILE${declared ? ` (model inputs: ${declared.map(describe).join(', ')})` : ''}`);
  if (bare.length > 0 && declared && declared.length !== 1) {
    throw bad(`the model of ${target.label} takes ${declared.length} inputs (${declared.map(describe).join(', ')}): give each as --input NAME=FILE`);
  }
  const inputs = new Map<string, Tensor>();
  for (const { name: given, file } of parsed) {
    const name = given ?? declared?.[0]?.name ?? 'input';
    if (inputs.has(name)) throw bad(`input ${name} is given twice`);
    const model = declared?.find((i) => i.name === name);
    if (declared && !model) throw bad(`unknown input "${name}": the model of ${target.label} takes ${declared.map(describe).join(', ')}`);
    const inputTarget: InputTarget = { label: target.label, declared: model, imageRefusal: imageRefusal(target, name) };
    inputs.set(name, await readInputFile(file, inputTarget, flags));
  }
  const missing = (declared ?? []).filter((i) => !inputs.has(i.name));
  if (missing.length > 0) throw bad(`missing input(s) ${missing.map(describe).join(', ')}: give each as --input NAME=FILE`);
  return inputs;
}

/** How {@link syntheticInputs} fills tensors. */
export type Fill = 'zeros' | 'random';

/** A small seeded generator (mulberry32), so every run of `cs bench` sends the same values. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * One request of the model's declared inputs with batch 1 (`cs bench`'s default load): zeros, or seeded
 * random values (floats in [0, 1), integers 0–9, uint8 0–255, bool 0/1). A tensor input goes through
 * the job's decode as it is, also on `decode: image` jobs (pass an image file to measure decoding).
 *
 * @throws ClusterServingError CS_ERR_BAD_REQUEST when the inputs are unknown, not served, or have a
 *   dynamic dimension other than the batch.
 */
export function syntheticInputs(target: ServingTarget, fill: Fill): Map<string, Tensor> {
  const declared = target.inputs;
  if (!declared || declared.length === 0) throw bad(`the model inputs of ${target.label} are unknown: give --input NAME=FILE`);
  const next = random(0x5eed);
  const inputs = new Map<string, Tensor>();
  for (const info of declared) {
    if (!isDType(info.dtype)) throw bad(`input ${describe(info)} has a dtype the client does not send: give --input NAME=FILE`);
    const dtype: DType = info.dtype;
    const shape = info.shape.map((d, i) => (i === 0 && d < 0 ? 1 : d));
    if (shape.some((d) => d < 0)) throw bad(`input ${describe(info)} has a dynamic dimension besides the batch: give --input NAME=FILE`);
    const count = shape.reduce((a, b) => a * b, 1);
    const size = DTYPE_BYTES[dtype];
    const data = new Uint8Array(count * size);
    if (fill === 'random') {
      const codec = elementCodec(dtype);
      const view = new DataView(data.buffer);
      const value = (): number | bigint => {
        const r = next();
        if (dtype === 'bool') return r < 0.5 ? 0 : 1;
        if (dtype === 'uint8') return Math.floor(r * 256);
        if (dtype === 'int32') return Math.floor(r * 10);
        if (dtype === 'int64') return BigInt(Math.floor(r * 10));
        return r;
      };
      for (let i = 0; i < count; i++) codec.write(view, i * size, value());
    }
    inputs.set(info.name, { dtype, shape, data });
  }
  return inputs;
}
