/**
 * The benchmark CNN: a ResNet-like image classifier with random (seeded) weights.
 *
 * `input` float32 [batch, 3, 224, 224] → two stride-2 stem convs → four stages of residual basic blocks
 * (3×3 Conv + Relu, 3×3 Conv, identity or 1×1 projection shortcut, Add + Relu; stages 2–4 downsample by 2)
 * → GlobalAveragePool → Flatten → Gemm → `logits` float32 [batch, 1000]. BatchNorm is omitted (it would fold
 * into the conv weights anyway). About 0.4 GMAC per image, in the size class of MobileNet/ResNet-lite models.
 */
import { addClassifierHead, addConv, addResidualAdd, convOutSize } from './cnn-layers';
import { BATCH_DIM, OnnxGraphBuilder } from './onnx-graph';
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
      case 'conv':
        addConv(g, rng, { ...layer, group: 1, activation: { kind: layer.relu ? 'relu' : 'none' } });
        break;
      case 'add':
        addResidualAdd(g, layer.name, layer.inputs, layer.output, true);
        break;
      case 'head':
        addClassifierHead(g, rng, layer);
        break;
    }
  }

  g.addOutput('logits', [BATCH_DIM, SMALL_CNN_CLASSES]);
  return g.build({
    graphName: 'small_cnn',
    docString: `cluster-serving benchmark CNN: ResNet-like, ${smallCnnMacs()} MACs per ${SMALL_CNN_IMAGE_SIZE}x${SMALL_CNN_IMAGE_SIZE} image, seeded random weights`,
  });
}
