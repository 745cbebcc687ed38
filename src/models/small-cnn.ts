/**
 * The benchmark CNN: a ResNet-like image classifier with random (seeded) weights.
 *
 * `input` float32 [batch, 3, 224, 224] → two stride-2 stem convs → four stages of residual basic blocks
 * (3×3 Conv + Relu, 3×3 Conv, identity or 1×1 projection shortcut, Add + Relu; stages 2–4 downsample by 2)
 * → GlobalAveragePool → Flatten → Gemm → `logits` float32 [batch, 1000]. BatchNorm is omitted (it would fold
 * into the conv weights anyway). About 0.4 GMAC per image, in the size class of MobileNet/ResNet-lite models.
 */
import { BATCH_DIM, OnnxGraphBuilder, intAttr, intsAttr, floatAttr } from './onnx-graph';
import { SeededRandom } from './seeded-random';

/** Height and width of the CNN's input images. */
export const SMALL_CNN_IMAGE_SIZE = 224;

/** Channels of the CNN's input images. */
export const SMALL_CNN_CHANNELS = 3;

/** Number of classes in the CNN's `logits`. */
export const SMALL_CNN_CLASSES = 1000;

const SMALL_CNN_SEED = 0xc11;

/** Stem convolutions, applied in order before the residual stages. */
const STEM: readonly { readonly outC: number; readonly kernel: number; readonly stride: number }[] = [
  { outC: 24, kernel: 3, stride: 2 }, // 224 → 112
  { outC: 32, kernel: 3, stride: 2 }, // 112 → 56
];

/** Residual stages: output channels, number of basic blocks, stride of the first block. */
const STAGES: readonly { readonly channels: number; readonly blocks: number; readonly stride: number }[] = [
  { channels: 32, blocks: 1, stride: 1 }, // 56
  { channels: 64, blocks: 2, stride: 2 }, // 28
  { channels: 128, blocks: 2, stride: 2 }, // 14
  { channels: 256, blocks: 2, stride: 2 }, // 7
];

/** A convolution in the layer table (square kernel, "same"-style padding, optional fused Relu). */
export interface CnnConvLayer {
  readonly kind: 'conv';
  readonly name: string;
  readonly input: string;
  readonly output: string;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernel: number;
  readonly stride: number;
  readonly pad: number;
  /** Input height (= width). */
  readonly inSize: number;
  /** Output height (= width). */
  readonly outSize: number;
  readonly relu: boolean;
  /** Multiplier on the He-normal weight scale (below 1 on branches that get summed). */
  readonly gain: number;
}

/** A residual join: elementwise Add of two values followed by Relu. */
export interface CnnAddLayer {
  readonly kind: 'add';
  readonly name: string;
  readonly inputs: readonly [string, string];
  readonly output: string;
}

/** The head: GlobalAveragePool → Flatten → Gemm (weights [outFeatures, inFeatures], transB=1). */
export interface CnnHeadLayer {
  readonly kind: 'head';
  readonly name: string;
  readonly input: string;
  readonly output: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
}

/** One entry of the CNN's layer table, in graph order. */
export type CnnLayer = CnnConvLayer | CnnAddLayer | CnnHeadLayer;

/** Output size of a convolution along one axis. */
function convOutSize(inSize: number, kernel: number, stride: number, pad: number): number {
  return Math.floor((inSize + 2 * pad - kernel) / stride) + 1;
}

/**
 * The CNN's layer table, expanded from the stem/stage description with every layer's shapes resolved.
 * Both {@link buildSmallCnn} and {@link smallCnnMacs} are computed from it.
 */
export function smallCnnLayers(): readonly CnnLayer[] {
  const layers: CnnLayer[] = [];
  let value = 'input';
  let channels = SMALL_CNN_CHANNELS;
  let size = SMALL_CNN_IMAGE_SIZE;

  const conv = (
    name: string,
    input: string,
    inChannels: number,
    inSize: number,
    spec: { readonly outChannels: number; readonly kernel: number; readonly stride: number; readonly relu: boolean; readonly gain: number },
  ): CnnConvLayer => {
    const pad = Math.floor(spec.kernel / 2);
    const layer: CnnConvLayer = {
      kind: 'conv',
      name,
      input,
      output: `${name}_out`,
      inChannels,
      ...spec,
      pad,
      inSize,
      outSize: convOutSize(inSize, spec.kernel, spec.stride, pad),
    };
    layers.push(layer);
    return layer;
  };

  STEM.forEach((s, i) => {
    const l = conv(`stem${i + 1}`, value, channels, size, { outChannels: s.outC, kernel: s.kernel, stride: s.stride, relu: true, gain: 1 });
    value = l.output;
    channels = l.outChannels;
    size = l.outSize;
  });

  STAGES.forEach((stage, si) => {
    for (let b = 0; b < stage.blocks; b++) {
      const prefix = `s${si + 1}b${b + 1}`;
      const stride = b === 0 ? stage.stride : 1;
      const out = stage.channels;
      const c1 = conv(`${prefix}_conv1`, value, channels, size, { outChannels: out, kernel: 3, stride, relu: true, gain: 1 });
      const c2 = conv(`${prefix}_conv2`, c1.output, out, c1.outSize, { outChannels: out, kernel: 3, stride: 1, relu: false, gain: Math.SQRT1_2 });
      const shortcut =
        stride === 1 && channels === out
          ? value
          : conv(`${prefix}_proj`, value, channels, size, { outChannels: out, kernel: 1, stride, relu: false, gain: Math.SQRT1_2 }).output;
      const add: CnnAddLayer = { kind: 'add', name: `${prefix}_add`, inputs: [c2.output, shortcut], output: `${prefix}_out` };
      layers.push(add);
      value = add.output;
      channels = out;
      size = c2.outSize;
    }
  });

  layers.push({ kind: 'head', name: 'fc', input: value, output: 'logits', inFeatures: channels, outFeatures: SMALL_CNN_CLASSES });
  return layers;
}

/** Multiply-accumulates of one layer for one image (0 for Add/Relu/pooling, which are not counted). */
function layerMacs(layer: CnnLayer): number {
  switch (layer.kind) {
    case 'conv':
      return layer.outSize * layer.outSize * layer.outChannels * layer.inChannels * layer.kernel * layer.kernel;
    case 'head':
      return layer.inFeatures * layer.outFeatures;
    case 'add':
      return 0;
  }
}

/**
 * Multiply-accumulates per 224×224 image, summed over the layer table's Conv and Gemm layers
 * (the MobileNet convention: one multiply-add = 1).
 */
export function smallCnnMacs(): number {
  return smallCnnLayers().reduce((sum, layer) => sum + layerMacs(layer), 0);
}

/** Builds the CNN as ONNX bytes (deterministic: the same bytes on every call). */
export function buildSmallCnn(): Uint8Array {
  const rng = new SeededRandom(SMALL_CNN_SEED);
  const g = new OnnxGraphBuilder();
  g.addInput('input', [BATCH_DIM, SMALL_CNN_CHANNELS, SMALL_CNN_IMAGE_SIZE, SMALL_CNN_IMAGE_SIZE]);

  for (const layer of smallCnnLayers()) {
    switch (layer.kind) {
      case 'conv': {
        const { name, inChannels: ci, outChannels: co, kernel: k } = layer;
        const fanIn = ci * k * k;
        const w = g.addInitializer(`${name}_w`, [co, ci, k, k], rng.heNormal(co * fanIn, fanIn, layer.gain));
        const b = g.addInitializer(`${name}_b`, [co], rng.normalArray(co, 0.01));
        const convOut = layer.relu ? `${name}_pre` : layer.output;
        g.addNode(
          'Conv',
          [layer.input, w, b],
          [convOut],
          {
            kernel_shape: intsAttr([k, k]),
            strides: intsAttr([layer.stride, layer.stride]),
            pads: intsAttr([layer.pad, layer.pad, layer.pad, layer.pad]),
            dilations: intsAttr([1, 1]),
            group: intAttr(1),
          },
          name,
        );
        if (layer.relu) g.addNode('Relu', [convOut], [layer.output], {}, `${name}_relu`);
        break;
      }
      case 'add': {
        const sum = `${layer.name}_sum`;
        g.addNode('Add', [...layer.inputs], [sum], {}, layer.name);
        g.addNode('Relu', [sum], [layer.output], {}, `${layer.name}_relu`);
        break;
      }
      case 'head': {
        const { name, inFeatures: fi, outFeatures: fo } = layer;
        g.addNode('GlobalAveragePool', [layer.input], [`${name}_gap`], {}, `${name}_gap`);
        g.addNode('Flatten', [`${name}_gap`], [`${name}_flat`], { axis: intAttr(1) }, `${name}_flatten`);
        const w = g.addInitializer(`${name}_w`, [fo, fi], rng.normalArray(fo * fi, Math.sqrt(1 / fi)));
        const b = g.addInitializer(`${name}_b`, [fo], rng.normalArray(fo, 0.01));
        g.addNode(
          'Gemm',
          [`${name}_flat`, w, b],
          [layer.output],
          { alpha: floatAttr(1), beta: floatAttr(1), transA: intAttr(0), transB: intAttr(1) },
          name,
        );
        break;
      }
    }
  }

  g.addOutput('logits', [BATCH_DIM, SMALL_CNN_CLASSES]);
  return g.build({
    graphName: 'small_cnn',
    docString: `cluster-serving benchmark CNN: ResNet-like, ${smallCnnMacs()} MACs per ${SMALL_CNN_IMAGE_SIZE}x${SMALL_CNN_IMAGE_SIZE} image, seeded random weights`,
  });
}
