/**
 * ResNet-18 with torchvision's exact layer structure and seeded random weights, as `torch.onnx.export` writes
 * `torchvision.models.resnet18()` in eval mode (BatchNorm folded into each convolution's weights and bias).
 *
 * `input` float32 [batch, 3, 224, 224] → conv1 7×7/2 (64) + Relu → MaxPool 3×3/2 → layer1..layer4, each two
 * BasicBlocks (3×3 Conv + Relu, 3×3 Conv, identity or 1×1/2 `downsample` shortcut, Add + Relu) of 64/128/256/512
 * channels, layers 2–4 starting with stride 2 → GlobalAveragePool → Flatten → Gemm (fc) → `logits` float32
 * [batch, 1000]. About 1.82 GMAC per image and 11.7 M parameters: the compute-heavy model of the bench.
 */
import { addClassifierHead, addConv, type ConvSpec, addResidualAdd, convOutSize } from './cnn-layers';
import { BATCH_DIM, OnnxGraphBuilder, intsAttr } from './onnx-graph';
import { SeededRandom } from './seeded-random';

/** Height and width of ResNet-18's input images. */
export const RESNET18_IMAGE_SIZE = 224;

/** Channels of ResNet-18's input images. */
export const RESNET18_CHANNELS = 3;

/** Number of classes in ResNet-18's `logits`. */
export const RESNET18_CLASSES = 1000;

const RESNET18_SEED = 0x7e518;

/** torchvision's `layers=[2, 2, 2, 2]` with the channel widths and first-block strides of layer1..layer4. */
const STAGES: readonly { readonly channels: number; readonly blocks: number; readonly stride: number }[] = [
  { channels: 64, blocks: 2, stride: 1 }, // 56×56
  { channels: 128, blocks: 2, stride: 2 }, // 28×28
  { channels: 256, blocks: 2, stride: 2 }, // 14×14
  { channels: 512, blocks: 2, stride: 2 }, // 7×7
];

/** Builds ResNet-18 as ONNX bytes (deterministic: the same bytes on every call). */
export function buildResNet18(): Uint8Array {
  const rng = new SeededRandom(RESNET18_SEED);
  const g = new OnnxGraphBuilder();
  // He-uniform: 11 M weights drawn at `npm ci` time, several times faster than normals, same variance.
  const conv = (spec: Omit<ConvSpec, 'init'>): string => addConv(g, rng, { ...spec, init: 'he-uniform' });
  g.addInput('input', [BATCH_DIM, RESNET18_CHANNELS, RESNET18_IMAGE_SIZE, RESNET18_IMAGE_SIZE]);

  let value = conv({
    name: 'conv1',
    input: 'input',
    output: 'conv1_out',
    inChannels: RESNET18_CHANNELS,
    outChannels: 64,
    kernel: 7,
    stride: 2,
    pad: 3,
    group: 1,
    activation: { kind: 'relu' },
    gain: 1,
  });
  let size = convOutSize(RESNET18_IMAGE_SIZE, 7, 2, 3); // 112
  value = g.addNode('MaxPool', [value], ['maxpool_out'], { kernel_shape: intsAttr([3, 3]), strides: intsAttr([2, 2]), pads: intsAttr([1, 1, 1, 1]) }, 'maxpool');
  size = convOutSize(size, 3, 2, 1); // 56
  let channels = 64;

  STAGES.forEach((stage, si) => {
    for (let b = 0; b < stage.blocks; b++) {
      const block = `layer${si + 1}.${b}`;
      const stride = b === 0 ? stage.stride : 1;
      const out = stage.channels;
      const common = { outChannels: out, group: 1 } as const;
      const h = conv({
        ...common,
        name: `${block}.conv1`,
        input: value,
        output: `${block}.conv1_out`,
        inChannels: channels,
        kernel: 3,
        stride,
        pad: 1,
        activation: { kind: 'relu' },
        gain: 1,
      });
      // Both summands get gain √½ (the shortcut too when it is a projection), so their sum keeps the input's scale.
      const branch = conv({
        ...common,
        name: `${block}.conv2`,
        input: h,
        output: `${block}.conv2_out`,
        inChannels: out,
        kernel: 3,
        stride: 1,
        pad: 1,
        activation: { kind: 'none' },
        gain: Math.SQRT1_2,
      });
      const shortcut =
        stride === 1 && channels === out
          ? value
          : conv({
              ...common,
              name: `${block}.downsample.0`,
              input: value,
              output: `${block}.downsample_out`,
              inChannels: channels,
              kernel: 1,
              stride,
              pad: 0,
              activation: { kind: 'none' },
              gain: Math.SQRT1_2,
            });
      value = addResidualAdd(g, `${block}.add`, [branch, shortcut], `${block}_out`, true);
      channels = out;
      size = convOutSize(size, 3, stride, 1);
    }
  });
  if (size !== 7) throw new Error(`resnet18: final feature map ${size}×${size}, expected 7×7`);

  addClassifierHead(g, rng, { name: 'fc', input: value, output: 'logits', inFeatures: channels, outFeatures: RESNET18_CLASSES });
  g.addOutput('logits', [BATCH_DIM, RESNET18_CLASSES]);
  return g.build({
    graphName: 'resnet18',
    docString: 'cluster-serving benchmark model: torchvision ResNet-18 structure (BatchNorm folded), seeded random weights',
  });
}
