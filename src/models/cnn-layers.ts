/**
 * Layer helpers shared by the generated CNNs (small-cnn, resnet18, mobilenet-v2): a convolution with its bias and
 * activation, a residual join, and the classifier head.
 *
 * Weights come from a {@link SeededRandom}. Every convolution carries a bias, as a torchvision model exported with
 * `torch.onnx.export` in eval mode does once BatchNorm is folded into the preceding convolution; He-normal weight
 * scaling then stands in for BatchNorm in keeping activations O(1) through the depth.
 */
import { OnnxGraphBuilder, floatAttr, intAttr, intsAttr } from './onnx-graph';
import type { SeededRandom } from './seeded-random';

/** Names of the scalar `min`/`max` initializers that turn `Clip` into ReLU6 (opset ≥ 11 takes them as inputs). */
export interface Relu6Bounds {
  readonly min: string;
  readonly max: string;
}

/** What follows a convolution: nothing, `Relu`, or ReLU6 as `Clip(x, 0, 6)` (as torch exports `nn.ReLU6`). */
export type ConvActivation = { readonly kind: 'none' } | { readonly kind: 'relu' } | { readonly kind: 'relu6'; readonly bounds: Relu6Bounds };

/** A square convolution with bias, in NCHW layout. */
export interface ConvSpec {
  /** Node name; initializers are `<name>_w` [outC, inC/group, k, k] and `<name>_b` [outC]. */
  readonly name: string;
  readonly input: string;
  /** Name of the value this layer produces (after the activation, if any). */
  readonly output: string;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernel: number;
  readonly stride: number;
  readonly pad: number;
  /** Channel groups: 1 for a dense convolution, `inChannels` for a depthwise one. */
  readonly group: number;
  readonly activation: ConvActivation;
  /** Multiplier on the He weight scale: 1 before a ReLU, √½ for a linear output or a summed branch. */
  readonly gain: number;
  /** Weight distribution (default `he-normal`); `he-uniform` has the same variance and is several times faster to draw. */
  readonly init?: 'he-normal' | 'he-uniform';
}

/** Output height/width of a convolution or pooling window along one axis. */
export function convOutSize(inSize: number, kernel: number, stride: number, pad: number): number {
  return Math.floor((inSize + 2 * pad - kernel) / stride) + 1;
}

/** Adds the scalar `Clip` bounds 0 and 6 once per graph; pass the result to every ReLU6 activation. */
export function addRelu6Bounds(g: OnnxGraphBuilder): Relu6Bounds {
  return {
    min: g.addInitializer('relu6_min', [], new Float32Array([0])),
    max: g.addInitializer('relu6_max', [], new Float32Array([6])),
  };
}

/** Adds a convolution (weights, bias, Conv node, activation) and returns the name of its output. */
export function addConv(g: OnnxGraphBuilder, rng: SeededRandom, spec: ConvSpec): string {
  const { name, inChannels, outChannels: co, kernel: k, group } = spec;
  if (inChannels % group !== 0 || co % group !== 0) {
    throw new Error(`conv ${name}: ${inChannels} → ${co} channels do not split into ${group} groups`);
  }
  const fanIn = (inChannels / group) * k * k;
  const count = co * fanIn;
  const weights = spec.init === 'he-uniform' ? rng.heUniform(count, fanIn, spec.gain) : rng.heNormal(count, fanIn, spec.gain);
  const w = g.addInitializer(`${name}_w`, [co, inChannels / group, k, k], weights);
  const b = g.addInitializer(`${name}_b`, [co], rng.normalArray(co, 0.01));
  const convOut = spec.activation.kind === 'none' ? spec.output : `${name}_pre`;
  g.addNode(
    'Conv',
    [spec.input, w, b],
    [convOut],
    {
      kernel_shape: intsAttr([k, k]),
      strides: intsAttr([spec.stride, spec.stride]),
      pads: intsAttr([spec.pad, spec.pad, spec.pad, spec.pad]),
      dilations: intsAttr([1, 1]),
      group: intAttr(group),
    },
    name,
  );
  switch (spec.activation.kind) {
    case 'none':
      break;
    case 'relu':
      g.addNode('Relu', [convOut], [spec.output], {}, `${name}_relu`);
      break;
    case 'relu6':
      g.addNode('Clip', [convOut, spec.activation.bounds.min, spec.activation.bounds.max], [spec.output], {}, `${name}_relu6`);
      break;
  }
  return spec.output;
}

/** Adds a residual join `a + b` (node `<name>`), followed by `Relu` when `relu` is set; returns `output`. */
export function addResidualAdd(g: OnnxGraphBuilder, name: string, inputs: readonly [string, string], output: string, relu: boolean): string {
  if (!relu) return g.addNode('Add', [...inputs], [output], {}, name);
  const sum = `${name}_sum`;
  g.addNode('Add', [...inputs], [sum], {}, name);
  return g.addNode('Relu', [sum], [output], {}, `${name}_relu`);
}

/** The classifier head of a CNN: GlobalAveragePool → Flatten → Gemm (weights [outFeatures, inFeatures], transB=1). */
export interface HeadSpec {
  /** Node prefix; initializers are `<name>_w` and `<name>_b`. */
  readonly name: string;
  readonly input: string;
  readonly output: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
}

/** Adds the classifier head (LeCun-normal weights, so logits have about the scale of the pooled features). */
export function addClassifierHead(g: OnnxGraphBuilder, rng: SeededRandom, spec: HeadSpec): string {
  const { name, inFeatures: fi, outFeatures: fo } = spec;
  g.addNode('GlobalAveragePool', [spec.input], [`${name}_gap`], {}, `${name}_gap`);
  g.addNode('Flatten', [`${name}_gap`], [`${name}_flat`], { axis: intAttr(1) }, `${name}_flatten`);
  const w = g.addInitializer(`${name}_w`, [fo, fi], rng.normalArray(fo * fi, Math.sqrt(1 / fi)));
  const b = g.addInitializer(`${name}_b`, [fo], rng.normalArray(fo, 0.01));
  return g.addNode(
    'Gemm',
    [`${name}_flat`, w, b],
    [spec.output],
    { alpha: floatAttr(1), beta: floatAttr(1), transA: intAttr(0), transB: intAttr(1) },
    name,
  );
}
