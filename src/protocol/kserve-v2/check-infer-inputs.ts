import { RequestError } from '../../errors';
import type { TensorInfo } from '../../runtime/model-runtime';
import type { Tensor } from '../../tensor/tensor';
import { acceptedDtypes, convertible } from '../../tensor/wire-dtypes';
import { toKServeDatatype } from './datatypes';

/** A declared dimension as metadata shows it: its size, or -1 when any size goes. */
export function metadataDim(d: number | string): number {
  return typeof d === 'number' && d >= 0 ? d : -1;
}

function expectedShape(info: TensorInfo): string {
  return `[${info.shape.map(metadataDim).join(', ')}]`;
}

function datatypeOf(info: TensorInfo): string {
  return info.dtype ? toKServeDatatype(info.dtype) : 'an unserved datatype';
}

/** `FP32 (or FP16, UINT8)`: the datatypes an input takes, the model's own first. */
function acceptedOf(info: TensorInfo): string {
  if (!info.dtype) return datatypeOf(info);
  const [own, ...compact] = acceptedDtypes(info.dtype).map(toKServeDatatype);
  return compact.length ? `${own} (or ${compact.join(', ')}, which the server converts to ${own})` : own!;
}

/** Which inputs a request sent as BYTES (`sent`), and which model inputs take an encoded image (`taken`). */
export interface ImageInputs {
  readonly sent: ReadonlySet<string>;
  readonly taken: ReadonlySet<string>;
}

const NO_IMAGES: ImageInputs = { sent: new Set(), taken: new Set() };

/**
 * Checks an inference request's inputs against the model's declared inputs, the way the model
 * metadata shows them: every input present by name and no other, the same datatype (or FP16 or UINT8 for
 * an FP32 input, converted by the TaskManager), the same rank,
 * and every fixed dimension equal (-1 dimensions take any size). An input declared with no shape
 * (unknown rank) takes any shape. An input sent as BYTES must be one the model takes as an encoded image.
 *
 * @throws RequestError (CS_ERR_SHAPE) naming the input and what the model expects.
 * @example
 * checkInferInputs(new Map([['input', { dtype: 'float32', shape: [1, 15], data }]]), model.inputs);
 * // throws: input "input": shape [1, 15] does not match the model's [-1, 16]
 */
export function checkInferInputs(inputs: ReadonlyMap<string, Tensor>, model: readonly TensorInfo[], images: ImageInputs = NO_IMAGES): void {
  const fail = (message: string): never => {
    throw new RequestError('CS_ERR_SHAPE', message);
  };
  const declared = (): string => model.map((i) => `${i.name} ${datatypeOf(i)} ${expectedShape(i)}`).join('; ');
  const unknown = [...inputs.keys()].filter((n) => !model.some((i) => i.name === n));
  if (unknown.length > 0) fail(`unknown input${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => `"${n}"`).join(', ')}; the model's inputs are ${declared()}`);
  const missing = model.filter((i) => !inputs.has(i.name));
  if (missing.length > 0) fail(`missing input${missing.length > 1 ? 's' : ''} ${missing.map((i) => `"${i.name}" ${datatypeOf(i)} ${expectedShape(i)}`).join('; ')}`);
  for (const info of model) {
    const t = inputs.get(info.name)!;
    if (images.sent.has(info.name)) {
      if (images.taken.has(info.name)) continue; // the TaskManager decodes it into this input's tensor
      fail(`input "${info.name}": datatype BYTES (an encoded image) is taken by the rank-4 inputs of a job with decode: image; this one expects ${datatypeOf(info)} ${expectedShape(info)}`);
    }
    if (info.dtype === undefined) fail(`input "${info.name}": the model takes a datatype this server does not serve`);
    if (!convertible(t.dtype, info.dtype)) fail(`input "${info.name}": datatype ${toKServeDatatype(t.dtype)}, the model expects ${acceptedOf(info)}`);
    if (info.shape.length === 0) continue;
    const matches = t.shape.length === info.shape.length && info.shape.every((d, k) => metadataDim(d) === -1 || t.shape[k] === d);
    if (!matches) fail(`input "${info.name}": shape [${t.shape.join(', ')}] does not match the model's ${expectedShape(info)}`);
  }
}
