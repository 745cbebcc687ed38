import type { OnnxModelInfo, OnnxTensorInfo } from '../runtime/onnx-model-info';
import { DTYPES } from '../tensor/tensor';
import type { TopologySpec } from './schema';

function describe(t: OnnxTensorInfo): string {
  return `${t.name}: ${t.dtype ?? t.elemType} [${t.shape.map((d) => (d < 0 ? '?' : String(d))).join(', ')}]`;
}

/** A fixed dimension `want` (≥ 0) differs from `have`; dynamic ones (-1) fit anything. */
function fits(shape: readonly number[], wanted: readonly number[]): boolean {
  return shape.length === wanted.length && shape.every((d, i) => i === 0 || d < 0 || d === wanted[i]);
}

/** The shape a decoded image has (batch 1) in `layout`. */
function imageShape(decode: Extract<TopologySpec['decode'], { type: 'image' }>, layout: 'NCHW' | 'NHWC'): number[] {
  const h = decode.crop?.height ?? decode.height;
  const w = decode.crop?.width ?? decode.width;
  return layout === 'NCHW' ? [1, 3, h, w] : [1, h, w, 3];
}

/**
 * What the topology's decode step makes that the model, as its file declares it, can never take: every
 * problem, by field path, or none. Checked at submit, before anything starts. Only certain mismatches
 * count (dynamic dimensions, and models of unknown rank, fit anything), so a valid job is never refused:
 *
 * - a model input of an element type no request can carry (e.g. STRING);
 * - `decode: image`: no model input of rank 4 whose fixed dimensions fit the decoded image
 *   (`[1, 3, H, W]` for NCHW, `[1, H, W, 3]` for NHWC; H and W of `crop` when given; without a `layout`
 *   the BigDL protocol picks per input, so either fits);
 * - `decode.normalize`: no float32 model input it could apply to (with several channels, one whose
 *   `channelAxis` dimension is dynamic or has as many entries as mean/std).
 */
export function modelFitProblems(spec: TopologySpec, model: OnnxModelInfo): string[] {
  const problems: string[] = [];
  const inputs = model.inputs;
  if (inputs.length === 0) problems.push('model.path: the model declares no inputs');
  for (const i of inputs) {
    if (i.dtype === undefined) problems.push(`model.path: input ${i.name} has element type ${i.elemType}, which no request can carry (served dtypes: ${DTYPES.join(', ')})`);
  }
  const { decode } = spec;
  if (decode.type === 'image') {
    const layouts: ('NCHW' | 'NHWC')[] = decode.layout ? [decode.layout] : spec.source.protocol === 'bigdl' ? ['NCHW', 'NHWC'] : ['NCHW'];
    const wanted = layouts.map((l) => imageShape(decode, l));
    const candidates = inputs.filter((i) => i.shape.length === 0 || i.shape.length === 4);
    if (candidates.length === 0) {
      problems.push(`decode.type: image makes tensors of rank 4 (${wanted.map((s) => `[${s.join(', ')}]`).join(' or ')}), but no model input has rank 4 (inputs: ${inputs.map(describe).join('; ')})`);
    } else if (!candidates.some((i) => i.shape.length === 0 || wanted.some((w) => fits(i.shape, w)))) {
      problems.push(
        `decode: images become ${wanted.map((s, k) => `[${s.join(', ')}] (${layouts[k]})`).join(' or ')}, which no model input takes (inputs: ${inputs.map(describe).join('; ')}); set decode.width, height, crop or layout to match`,
      );
    }
  }
  if (decode.type === 'tensor' && decode.normalize) {
    const n = decode.normalize;
    const channels = Math.max(n.mean.length, n.std.length);
    const floats = inputs.filter((i) => i.dtype === 'float32');
    const fitting = floats.filter((i) => {
      if (channels === 1 || i.shape.length === 0) return true;
      const axis = n.channelAxis < 0 ? i.shape.length + n.channelAxis : n.channelAxis;
      const size = i.shape[axis];
      return size !== undefined && (size < 0 || size === channels);
    });
    if (floats.length === 0) problems.push(`decode.normalize: it applies to uint8 tensors sent for float32 inputs, and the model has none (inputs: ${inputs.map(describe).join('; ')})`);
    else if (fitting.length === 0) problems.push(`decode.normalize: ${channels} channels along channelAxis ${n.channelAxis} fit no float32 model input (inputs: ${floats.map(describe).join('; ')})`);
  }
  return problems;
}
