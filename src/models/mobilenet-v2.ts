/**
 * MobileNetV2 (width 1.0) with torchvision's exact layer structure and seeded random weights, as
 * `torch.onnx.export` writes `torchvision.models.mobilenet_v2()` in eval mode (BatchNorm folded into each
 * convolution's weights and bias, ReLU6 as `Clip(x, 0, 6)`, depthwise convolutions as Conv with `group`).
 *
 * `input` float32 [batch, 3, 224, 224] → features.0: 3×3/2 Conv (32) + ReLU6 → features.1–17: inverted-residual
 * blocks (1×1 expand ×t + ReLU6, 3×3 depthwise + ReLU6, 1×1 linear projection; Add of the block input where the
 * stride is 1 and the channels agree) → features.18: 1×1 Conv (1280) + ReLU6 → GlobalAveragePool → Flatten →
 * Gemm (classifier.1) → `logits` float32 [batch, 1000]. About 0.30 GMAC per image and 3.5 M parameters: the light
 * model of the bench, with far less compute per input byte than ResNet-18.
 */
import { addClassifierHead, addConv, type ConvSpec, addRelu6Bounds, addResidualAdd, convOutSize, type ConvActivation } from './cnn-layers';
import { BATCH_DIM, OnnxGraphBuilder } from './onnx-graph';
import { SeededRandom } from './seeded-random';

/** Height and width of MobileNetV2's input images. */
export const MOBILENET_V2_IMAGE_SIZE = 224;

/** Channels of MobileNetV2's input images. */
export const MOBILENET_V2_CHANNELS = 3;

/** Number of classes in MobileNetV2's `logits`. */
export const MOBILENET_V2_CLASSES = 1000;

const MOBILENET_V2_SEED = 0x3b1e2;

/** torchvision's `inverted_residual_setting`: expansion t, output channels c, repeats n, first stride s. */
const INVERTED_RESIDUAL_SETTING: readonly { readonly t: number; readonly c: number; readonly n: number; readonly s: number }[] = [
  { t: 1, c: 16, n: 1, s: 1 },
  { t: 6, c: 24, n: 2, s: 2 },
  { t: 6, c: 32, n: 3, s: 2 },
  { t: 6, c: 64, n: 4, s: 2 },
  { t: 6, c: 96, n: 3, s: 1 },
  { t: 6, c: 160, n: 3, s: 2 },
  { t: 6, c: 320, n: 1, s: 1 },
];

const FIRST_CHANNELS = 32;
const LAST_CHANNELS = 1280;

/**
 * Gain on the He-normal scale of a block's linear projection: √½ gives it unit output variance for unit input
 * variance; where it is added to the block input, √⅛ keeps the sum from doubling at each of the ten residual adds
 * (ReLU6 would saturate on the grown activations and make every image look alike).
 */
const PROJECT_GAIN = Math.SQRT1_2;
const RESIDUAL_PROJECT_GAIN = Math.sqrt(1 / 8);

/** Builds MobileNetV2 as ONNX bytes (deterministic: the same bytes on every call). */
export function buildMobileNetV2(): Uint8Array {
  const rng = new SeededRandom(MOBILENET_V2_SEED);
  const g = new OnnxGraphBuilder();
  // He-uniform: 11 M weights drawn at `npm ci` time, several times faster than normals, same variance.
  const conv = (spec: Omit<ConvSpec, 'init'>): string => addConv(g, rng, { ...spec, init: 'he-uniform' });
  g.addInput('input', [BATCH_DIM, MOBILENET_V2_CHANNELS, MOBILENET_V2_IMAGE_SIZE, MOBILENET_V2_IMAGE_SIZE]);
  const relu6: ConvActivation = { kind: 'relu6', bounds: addRelu6Bounds(g) };
  const linear: ConvActivation = { kind: 'none' };

  let value = conv({
    name: 'features.0',
    input: 'input',
    output: 'features.0_out',
    inChannels: MOBILENET_V2_CHANNELS,
    outChannels: FIRST_CHANNELS,
    kernel: 3,
    stride: 2,
    pad: 1,
    group: 1,
    activation: relu6,
    gain: 1,
  });
  let size = convOutSize(MOBILENET_V2_IMAGE_SIZE, 3, 2, 1); // 112
  let channels = FIRST_CHANNELS;
  let index = 1;

  for (const { t, c, n, s } of INVERTED_RESIDUAL_SETTING) {
    for (let i = 0; i < n; i++) {
      const block = `features.${index}`;
      const stride = i === 0 ? s : 1;
      const hidden = channels * t;
      const residual = stride === 1 && channels === c;
      let layer = 0;
      let h = value;
      if (t !== 1) {
        h = conv({
          name: `${block}.conv.${layer}`,
          input: h,
          output: `${block}.conv.${layer}_out`,
          inChannels: channels,
          outChannels: hidden,
          kernel: 1,
          stride: 1,
          pad: 0,
          group: 1,
          activation: relu6,
          gain: 1,
        });
        layer++;
      }
      h = conv({
        name: `${block}.conv.${layer}`,
        input: h,
        output: `${block}.conv.${layer}_out`,
        inChannels: hidden,
        outChannels: hidden,
        kernel: 3,
        stride,
        pad: 1,
        group: hidden,
        activation: relu6,
        gain: 1,
      });
      layer++;
      const projected = conv({
        name: `${block}.conv.${layer}`,
        input: h,
        output: residual ? `${block}.conv.${layer}_out` : `${block}_out`,
        inChannels: hidden,
        outChannels: c,
        kernel: 1,
        stride: 1,
        pad: 0,
        group: 1,
        activation: linear,
        gain: residual ? RESIDUAL_PROJECT_GAIN : PROJECT_GAIN,
      });
      value = residual ? addResidualAdd(g, `${block}.add`, [value, projected], `${block}_out`, false) : projected;
      channels = c;
      size = convOutSize(size, 3, stride, 1);
      index++;
    }
  }
  if (index !== 18 || size !== 7) throw new Error(`mobilenet-v2: ${index - 1} blocks down to ${size}×${size}, expected 17 blocks and 7×7`);

  value = conv({
    name: 'features.18',
    input: value,
    output: 'features.18_out',
    inChannels: channels,
    outChannels: LAST_CHANNELS,
    kernel: 1,
    stride: 1,
    pad: 0,
    group: 1,
    activation: relu6,
    gain: 1,
  });
  addClassifierHead(g, rng, { name: 'classifier.1', input: value, output: 'logits', inFeatures: LAST_CHANNELS, outFeatures: MOBILENET_V2_CLASSES });
  g.addOutput('logits', [BATCH_DIM, MOBILENET_V2_CLASSES]);
  return g.build({
    graphName: 'mobilenet_v2',
    docString: 'cluster-serving benchmark model: torchvision MobileNetV2 (width 1.0) structure (BatchNorm folded), seeded random weights',
  });
}
