import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import { BATCH_DIM, OnnxGraphBuilder } from '../../src/models/onnx-graph';
import { onnxGraphStats } from '../../src/models/onnx-macs';
import { SeededRandom } from '../../src/models/seeded-random';
import { buildResNet18 } from '../../src/models/resnet18';
import { buildMobileNetV2 } from '../../src/models/mobilenet-v2';
import { buildSmallCnn, smallCnnMacs } from '../../src/models/small-cnn';
import { EXAMPLE_MODELS, ensureModels } from '../../src/models/generate';

const IMAGE_DIMS = [3, 224, 224] as const;
const IMAGE = 3 * 224 * 224;
const CLASSES = 1000;

/** What each generated model must be: torchvision's published compute and size, and its node counts. */
const MODELS = [
  {
    key: 'resnet18',
    build: buildResNet18,
    macs: 1.82e9, // torchvision: 1.81 GFLOPS (multiply-adds)
    parameters: 11.7e6, // torchvision: 11,689,512 with unfolded BatchNorm
    nodes: { Conv: 20, Relu: 17, Add: 8, MaxPool: 1, GlobalAveragePool: 1, Flatten: 1, Gemm: 1 },
    depthwise: 0,
  },
  {
    key: 'mobilenetv2',
    build: buildMobileNetV2,
    macs: 0.3e9, // torchvision: 0.30 GFLOPS
    parameters: 3.5e6, // torchvision: 3,504,872 with unfolded BatchNorm
    nodes: { Conv: 52, Clip: 35, Add: 10, GlobalAveragePool: 1, Flatten: 1, Gemm: 1 },
    depthwise: 17,
  },
] as const;

function within(actual: number, target: number, fraction: number, what: string): void {
  assert.ok(Math.abs(actual - target) <= fraction * target, `${what}: ${actual} not within ${fraction * 100} % of ${target}`);
}

async function logits(session: ort.InferenceSession, images: Float32Array, batch: number): Promise<Float32Array> {
  const out = await session.run({ input: new ort.Tensor('float32', images, [batch, ...IMAGE_DIMS]) });
  const result = out['logits'];
  assert.ok(result, 'logits output present');
  assert.deepEqual(result.dims, [batch, CLASSES]);
  return result.data as Float32Array;
}

for (const spec of MODELS) {
  describe(`generated ${spec.key}`, () => {
    const bytes = spec.build();

    test('building twice gives identical bytes', () => {
      assert.ok(Buffer.from(spec.build()).equals(Buffer.from(bytes)));
    });

    test('has the layer structure of the torchvision model', () => {
      const graph = onnx.ModelProto.decode(bytes).graph;
      assert.ok(graph);
      const counts: Record<string, number> = {};
      for (const node of graph.node ?? []) counts[node.opType ?? ''] = (counts[node.opType ?? ''] ?? 0) + 1;
      assert.deepEqual(counts, spec.nodes);
      const depthwise = (graph.node ?? []).filter((n) => n.opType === 'Conv' && Number(n.attribute?.find((a) => a.name === 'group')?.i ?? 1) > 1);
      assert.equal(depthwise.length, spec.depthwise, 'depthwise convolutions');
    });

    test('MACs counted from the graph are within 5 % of the target, parameters too', () => {
      const { macs, parameters } = onnxGraphStats(bytes, { input: [1, ...IMAGE_DIMS] });
      console.log(`${spec.key}: ${(macs / 1e9).toFixed(3)} GMAC per image, ${(parameters / 1e6).toFixed(2)} M parameters, ${(bytes.length / 1e6).toFixed(1)} MB`);
      within(macs, spec.macs, 0.05, 'MACs per image');
      within(parameters, spec.parameters, 0.05, 'parameters');
      assert.equal(onnxGraphStats(bytes, { input: [8, ...IMAGE_DIMS] }).macs, 8 * macs, 'MACs scale with the batch');
    });

    test('loads in onnxruntime with input [batch,3,224,224] and output logits [batch,1000]', async () => {
      const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 2, interOpNumThreads: 1 });
      try {
        assert.deepEqual([...session.inputNames], ['input']);
        assert.deepEqual([...session.outputNames], ['logits']);
        const [input] = session.inputMetadata;
        const [output] = session.outputMetadata;
        assert.ok(input?.isTensor && output?.isTensor);
        assert.equal(input.type, 'float32');
        assert.deepEqual(input.shape, [BATCH_DIM, ...IMAGE_DIMS]);
        assert.deepEqual(output.shape, [BATCH_DIM, CLASSES]);

        // Different images give finite logits that differ between classes and between images, whatever the batch.
        const images = new SeededRandom(17).uniformArray(2 * IMAGE);
        const batched = await logits(session, images, 2);
        for (const v of batched) assert.ok(Number.isFinite(v), `finite logit ${v}`);
        const first = batched.subarray(0, CLASSES);
        const second = batched.subarray(CLASSES);
        const spread = Math.max(...first) - Math.min(...first);
        assert.ok(spread > 0.1 && spread < 1e3, `logits vary across classes in a sane range (spread ${spread})`);
        const rmsDiff = Math.sqrt(first.reduce((s, v, i) => s + (v - (second[i] ?? v)) ** 2, 0) / CLASSES);
        assert.ok(rmsDiff > 1e-3, `different images give different logits (rms difference ${rmsDiff})`);
        const single = await logits(session, images.subarray(IMAGE), 1);
        single.forEach((v, i) => assert.ok(Math.abs(v - (second[i] ?? NaN)) <= 1e-3 * (1 + Math.abs(v)), `image #1 alone vs in batch 2, class ${i}`));
      } finally {
        await session.release();
      }
    });
  });
}

test('the graph MAC count agrees with the small CNN layer table', () => {
  assert.equal(onnxGraphStats(buildSmallCnn(), { input: [1, ...IMAGE_DIMS] }).macs, smallCnnMacs());
});

test('the graph MAC count rejects an operator it has no shape rule for', () => {
  const g = new OnnxGraphBuilder();
  g.addInput('x', [BATCH_DIM, 4]);
  g.addNode('Sigmoid', ['x'], ['y']);
  g.addOutput('y', [BATCH_DIM, 4]);
  assert.throws(() => onnxGraphStats(g.build({ graphName: 'sigmoid' }), { x: [1, 4] }), /operator Sigmoid has no shape rule/);
});

test('ensureModels writes only the models asked for, and keeps files that already hold the same bytes', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cs-models-tv-'));
  try {
    const paths = await ensureModels(dir, ['resnet18', 'mobilenetv2']);
    assert.deepEqual(Object.keys(paths).sort(), ['mobilenetv2', 'resnet18']);
    assert.equal(paths.resnet18, join(dir, EXAMPLE_MODELS.resnet18));
    assert.equal(paths.mobilenetv2, join(dir, EXAMPLE_MODELS.mobilenetv2));
    await assert.rejects(stat(join(dir, EXAMPLE_MODELS.cnn)), /ENOENT/, 'models not asked for are not written');

    const before = await stat(paths.resnet18);
    await writeFile(paths.mobilenetv2, 'stale');
    await ensureModels(dir, ['resnet18', 'mobilenetv2']);
    const after = await stat(paths.resnet18);
    assert.equal(after.ino, before.ino, 'an up-to-date file is not replaced');
    assert.equal(after.mtimeMs, before.mtimeMs, 'an up-to-date file is not rewritten');
    assert.equal((await stat(paths.mobilenetv2)).size, buildMobileNetV2().length, 'a stale file is rewritten');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
