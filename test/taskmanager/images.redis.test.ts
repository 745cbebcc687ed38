import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import * as ort from 'onnxruntime-node';
import type { TopologyInput } from '../../src/topology/schema';
import { InputQueue } from '../../src/client/input-queue';
import { OutputQueue } from '../../src/client/output-queue';
import { imageInput } from '../../src/client/tensor-input';
import { imageToTensor, type ImageToTensorOptions } from '../../src/operators/image-to-tensor';
import { BATCH_DIM, OnnxGraphBuilder, intAttr } from '../../src/models/onnx-graph';
import { toTypedArray, type Tensor } from '../../src/tensor/tensor';
import { testRedisUrl, stopTestRedis } from '../support/redis';
import { testModels } from '../support/test-models';
import { startSubtask } from '../support/subtask';
import { uniqueName, waitFor } from '../support/wait-for';



/** A photo-like w × h RGB image: gradients, a disc and texture that differ with `seed`. */
function pixels(w: number, h: number, seed: number): Buffer {
  const out = Buffer.alloc(w * h * 3);
  const cx = w * (0.3 + 0.1 * (seed % 4));
  const cy = h * 0.5;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * 3;
      const inDisc = (x - cx) ** 2 + (y - cy) ** 2 < (Math.min(w, h) / 4) ** 2;
      out[o] = inDisc ? 230 : (x * 255) / w;
      out[o + 1] = inDisc ? 40 + seed * 20 : (y * 255) / h;
      out[o + 2] = 128 + 90 * Math.sin((x * (seed + 1) + 2 * y) / 9);
    }
  }
  return out;
}

function encode(w: number, h: number, seed: number, format: 'jpeg' | 'png'): Promise<Buffer> {
  const img = sharp(pixels(w, h, seed), { raw: { width: w, height: h, channels: 3 } });
  return (format === 'jpeg' ? img.jpeg({ quality: 85 }) : img.png()).toBuffer();
}

const floats = (t: Tensor): number[] => [...(toTypedArray(t) as Float32Array)];
const ints = (t: Tensor): number[] => [...(toTypedArray(t) as Int32Array)];

function assertClose(actual: readonly number[], expected: readonly number[], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    assert.ok(Math.abs(actual[i]! - expected[i]!) <= 1e-4 * Math.max(1, Math.abs(expected[i]!)), `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

/** Indices of a row sorted by value, best first (ties: lower index first). */
function ranking(row: readonly number[]): number[] {
  return row.map((v, i) => [v, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]).map(([, i]) => i);
}

/**
 * Two inputs, two outputs: `image` [batch, 3, 4, 4] is averaged per channel and added to `offset`
 * [batch, 3], giving `scores`; `negated` is −scores (so its top-N is the reverse order).
 */
function writeTwoInputModel(dir: string): string {
  const g = new OnnxGraphBuilder();
  g.addInput('image', [BATCH_DIM, 3, 4, 4]);
  g.addInput('offset', [BATCH_DIM, 3]);
  g.addNode('GlobalAveragePool', ['image'], ['pooled']);
  g.addNode('Flatten', ['pooled'], ['flat'], { axis: intAttr(1) });
  g.addNode('Add', ['flat', 'offset'], ['scores']);
  g.addNode('Neg', ['scores'], ['negated']);
  g.addOutput('scores', [BATCH_DIM, 3]);
  g.addOutput('negated', [BATCH_DIM, 3]);
  const file = join(dir, 'two-inputs.onnx');
  writeFileSync(file, g.build({ graphName: 'two_inputs' }));
  return file;
}

describe('images through a native-protocol image topology (real Redis, real ONNX Runtime)', () => {
  let url: string;
  let models: Awaited<ReturnType<typeof testModels>>;
  let session: ort.InferenceSession;
  const decode: TopologyInput['decode'] = { type: 'image', width: 240, height: 240, crop: { width: 224, height: 224 }, scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
  // What the topology means: NCHW and RGB are the native protocol's defaults.
  const sameDecode: ImageToTensorOptions = { width: 240, height: 240, crop: { width: 224, height: 224 }, layout: 'NCHW', channelOrder: 'RGB', scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
  let images: { name: string; bytes: Buffer }[];

  /** The logits of the same decode + inference done directly with onnxruntime-node. */
  async function direct(bytes: Buffer): Promise<number[]> {
    const t = await imageToTensor(bytes, sameDecode);
    const out = await session.run({ input: new ort.Tensor('float32', toTypedArray(t) as Float32Array, [...t.shape]) });
    return [...(out.logits!.data as Float32Array)];
  }

  before(async () => {
    url = await testRedisUrl();
    models = await testModels();
    session = await ort.InferenceSession.create(models.cnn);
    images = [
      { name: 'jpeg-0', bytes: await encode(320, 240, 0, 'jpeg') },
      { name: 'png-1', bytes: await encode(200, 260, 1, 'png') },
      { name: 'jpeg-2', bytes: await encode(224, 224, 2, 'jpeg') },
      { name: 'png-3', bytes: await encode(240, 240, 3, 'png') },
      { name: 'jpeg-4', bytes: await encode(500, 375, 4, 'jpeg') },
      { name: 'png-5', bytes: await encode(64, 48, 5, 'png') },
    ];
  });
  after(async () => {
    await session?.release();
    await stopTestRedis();
  });

  test('JPEG and PNG files give the scores of the same decode + direct inference; corrupt images fail alone', async () => {
    const name = uniqueName('images');
    const r = await startSubtask(url, { name, source: { type: 'redis' }, decode, model: { path: models.cnn, threads: 1 }, batch: { maxSize: 4, maxDelayMs: 20 } });
    const q = new InputQueue({ redis: url, stream: name });
    const out = new OutputQueue({ redis: url, stream: name });
    try {
      const garbage = Buffer.from('this is not an image at all, just text pretending');
      const headerOnly = images[0]!.bytes.subarray(0, 30);
      const badPng = Buffer.concat([images[1]!.bytes.subarray(0, 8), Buffer.alloc(64, 7)]);
      // One burst, the bad ones between good ones: they share read batches and batch windows.
      const sent = [images[0]!, { name: 'garbage', bytes: garbage }, images[1]!, images[2]!, { name: 'header-only', bytes: headerOnly }, images[3]!, images[4]!, { name: 'bad-png', bytes: badPng }, images[5]!];
      await Promise.all(sent.map((s) => q.enqueue(s.name, { input: imageInput(s.bytes) })));
      for (const bad of ['garbage', 'header-only', 'bad-png']) {
        const res = await waitFor(() => out.query(bad), { what: `result of ${bad}` });
        assert.equal(res.error?.code, 'CS_ERR_BAD_REQUEST', `${bad}: ${res.error?.message}`);
        assert.match(res.error!.message, /input input: cannot decode image/);
      }
      for (const image of images) {
        const res = await waitFor(() => out.query(image.name), { what: `result of ${image.name}` });
        assert.equal(res.error, undefined, `${image.name}: ${res.error?.message}`);
        const logits = res.outputs.get('logits')!;
        assert.deepEqual([...logits.shape], [1, 1000]);
        assertClose(floats(logits), await direct(image.bytes), image.name);
      }
      // predict waits for its own result, through the reply stream.
      const one = await q.predict({ input: imageInput(images[4]!.bytes) }, { timeoutMs: 10_000 });
      assertClose(floats(one.get('logits')!), await direct(images[4]!.bytes), 'predict');
      assert.ok(r.images >= images.length + 1, `the runner counted ${r.images} decoded images`);
      assert.equal(r.imageRequestsHeld, 0, 'every decoded image array went back to the pool');
    } finally {
      await q.close();
      await out.close();
      await r.close();
    }
  });

  test('top-N arrives as tensors through the TypeScript client: int32 indices and float32 scores, best first; argmax too', async () => {
    const topName = uniqueName('images-top');
    const argName = uniqueName('images-argmax');
    const top = await startSubtask(url, { name: topName, source: { type: 'redis' }, decode, model: { path: models.cnn, threads: 1 }, batch: { maxSize: 4, maxDelayMs: 5 }, postprocess: { type: 'topN', n: 5 } });
    const arg = await startSubtask(url, { name: argName, source: { type: 'redis' }, decode, model: { path: models.cnn, threads: 1 }, batch: { maxSize: 4, maxDelayMs: 5 }, postprocess: 'argmax' });
    const qTop = new InputQueue({ redis: url, stream: topName });
    const qArg = new InputQueue({ redis: url, stream: argName });
    try {
      await Promise.all(
        images.map(async (image) => {
          const logits = await direct(image.bytes);
          // Softmax keeps the order of the logits: the top 5 of the probabilities are the top 5 logits.
          const max = Math.max(...logits);
          const probs = logits.map((v) => Math.exp(v - max));
          const expected = ranking(probs).slice(0, 5);
          const got = await qTop.predict({ input: imageInput(image.bytes) }, { timeoutMs: 10_000 });
          assert.deepEqual([...got.keys()], ['logits_indices', 'logits_scores']);
          const indices = got.get('logits_indices')!;
          const scores = got.get('logits_scores')!;
          assert.equal(indices.dtype, 'int32');
          assert.equal(scores.dtype, 'float32');
          assert.deepEqual([...indices.shape], [1, 5]);
          assert.deepEqual([...scores.shape], [1, 5]);
          const s = floats(scores);
          for (let k = 1; k < 5; k++) assert.ok(s[k - 1]! >= s[k]!, `${image.name}: scores best first`);
          assertClose(s, ints(indices).map((i) => logits[i]!), `${image.name} scores`);
          // The served indices are the direct ranking, except where two logits are within float noise.
          ints(indices).forEach((i, k) => assert.ok(i === expected[k] || Math.abs(logits[i]! - logits[expected[k]!]!) < 1e-4, `${image.name}: rank ${k}: ${i} vs ${expected[k]}`));
          const am = await qArg.predict({ input: imageInput(image.bytes) }, { timeoutMs: 10_000 });
          const argmax = am.get('logits_argmax')!;
          assert.equal(argmax.dtype, 'int32');
          assert.deepEqual([...argmax.shape], [1]);
          assert.equal(ints(argmax)[0], ints(indices)[0], `${image.name}: argmax is the top-1`);
        }),
      );
    } finally {
      await qTop.close();
      await qArg.close();
      await top.close();
      await arg.close();
    }
  });

  test('a model with two inputs (an image and a tensor) and two outputs, with top-N on both', async () => {
    const name = uniqueName('images-two');
    const model = writeTwoInputModel(models.dir);
    const r = await startSubtask(url, { name, source: { type: 'redis' }, decode: { type: 'image', width: 4, height: 4, scale: 1 / 255 }, model: { path: model }, batch: { maxSize: 8, maxDelayMs: 10 }, postprocess: { type: 'topN', n: 2 } });
    const q = new InputQueue({ redis: url, stream: name });
    try {
      const offsets = [
        [0, 0, 0],
        [1, 0, 0],
        [0, 0, 2],
        [-1, 0.5, 0.2],
      ];
      await Promise.all(
        offsets.map(async (offset, k) => {
          const bytes = await encode(12, 8, k, k % 2 ? 'png' : 'jpeg');
          const t = floats(await imageToTensor(bytes, { width: 4, height: 4, layout: 'NCHW', channelOrder: 'RGB', scale: 1 / 255 }));
          const scores = [0, 1, 2].map((c) => t.slice(c * 16, (c + 1) * 16).reduce((a, b) => a + b, 0) / 16 + offset[c]!);
          // Named inputs, in an order other than the model's.
          const got = await q.predict({ offset: { data: Float32Array.from(offset), shape: [1, 3] }, image: imageInput(bytes) }, { timeoutMs: 10_000 });
          assert.deepEqual([...got.keys()], ['scores_indices', 'scores_scores', 'negated_indices', 'negated_scores']);
          assert.deepEqual(ints(got.get('scores_indices')!), ranking(scores).slice(0, 2), `request ${k}`);
          assertClose(floats(got.get('scores_scores')!), ranking(scores).slice(0, 2).map((i) => scores[i]!), `request ${k} scores`);
          const negated = scores.map((v) => -v);
          assert.deepEqual(ints(got.get('negated_indices')!), ranking(negated).slice(0, 2), `request ${k} negated`);
          assertClose(floats(got.get('negated_scores')!), ranking(negated).slice(0, 2).map((i) => negated[i]!), `request ${k} negated scores`);
        }),
      );
    } finally {
      await q.close();
      await r.close();
    }
  });
});
