import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { SeededRandom } from '../../src/models/seeded-random';
import { buildTinyModel, tinyReference, TINY_INPUT_SIZE, TINY_OUTPUT_SIZE } from '../../src/models/tiny-mlp';
import {
  buildSmallCnn,
  smallCnnMacs,
  SMALL_CNN_CHANNELS,
  SMALL_CNN_CLASSES,
  SMALL_CNN_IMAGE_SIZE,
} from '../../src/models/small-cnn';
import { EXAMPLE_MODELS, defaultModelsDir, ensureModels } from '../../src/models/generate';

const IMAGE = SMALL_CNN_CHANNELS * SMALL_CNN_IMAGE_SIZE * SMALL_CNN_IMAGE_SIZE;
const cnnBytes = buildSmallCnn();
const cnnSessions = new Map<number, Promise<ort.InferenceSession>>();

function cnnSession(threads: number): Promise<ort.InferenceSession> {
  let s = cnnSessions.get(threads);
  if (s === undefined) {
    s = ort.InferenceSession.create(cnnBytes, { intraOpNumThreads: threads, interOpNumThreads: 1 });
    cnnSessions.set(threads, s);
  }
  return s;
}

async function runCnn(session: ort.InferenceSession, images: Float32Array, batch: number): Promise<Float32Array> {
  const dims = [batch, SMALL_CNN_CHANNELS, SMALL_CNN_IMAGE_SIZE, SMALL_CNN_IMAGE_SIZE];
  const out = await session.run({ input: new ort.Tensor('float32', images, dims) });
  const logits = out['logits'];
  assert.ok(logits, 'logits output present');
  assert.deepEqual(logits.dims, [batch, SMALL_CNN_CLASSES]);
  return logits.data as Float32Array;
}

function assertClose(actual: Float32Array, expected: Float32Array, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i] ?? NaN;
    const e = expected[i] ?? NaN;
    assert.ok(Math.abs(a - e) <= tol, `${what}[${i}]: ${a} vs ${e} (tol ${tol})`);
  }
}

for (const batch of [1, 5]) {
  test(`tiny model in onnxruntime matches tinyReference (batch ${batch})`, async () => {
    const session = await ort.InferenceSession.create(buildTinyModel());
    assert.deepEqual([...session.inputNames], ['input']);
    assert.deepEqual([...session.outputNames], ['output']);
    const input = new SeededRandom(100 + batch).uniformArray(batch * TINY_INPUT_SIZE, -2, 2);
    const out = await session.run({ input: new ort.Tensor('float32', input, [batch, TINY_INPUT_SIZE]) });
    const result = out['output'];
    assert.ok(result);
    assert.deepEqual(result.dims, [batch, TINY_OUTPUT_SIZE]);
    assertClose(result.data as Float32Array, tinyReference(input, batch), 1e-5, 'tiny output');
  });
}

test('building twice gives identical bytes', () => {
  assert.deepEqual(Buffer.from(buildTinyModel()), Buffer.from(buildTinyModel()));
  assert.ok(Buffer.from(buildSmallCnn()).equals(Buffer.from(cnnBytes)), 'CNN bytes identical');
});

test('smallCnnMacs() is at least 0.3 GMAC and not much above 0.45 GMAC', () => {
  const macs = smallCnnMacs();
  console.log(`small CNN: ${macs} MACs per image (${(macs / 1e9).toFixed(3)} GMAC)`);
  assert.ok(macs >= 3e8, `MACs ${macs} >= 3e8`);
  assert.ok(macs <= 4.6e8, `MACs ${macs} <= 4.6e8`);
});

test('CNN accepts batch 1 and 4: shape [n,1000], finite, not constant, batch-consistent', async () => {
  const session = await cnnSession(2);
  assert.deepEqual([...session.inputNames], ['input']);
  assert.deepEqual([...session.outputNames], ['logits']);

  const rng = new SeededRandom(7);
  const images = rng.uniformArray(4 * IMAGE); // 4 different images in [0, 1)
  const probe = images.slice(2 * IMAGE, 3 * IMAGE); // image #2 on its own

  const single = await runCnn(session, probe, 1);
  const batched = await runCnn(session, images, 4);

  for (const v of batched) assert.ok(Number.isFinite(v), `finite logit ${v}`);
  const min = Math.min(...single);
  const max = Math.max(...single);
  assert.ok(max - min > 1e-2, `logits not constant across classes (${min}..${max})`);
  assert.ok(Math.max(...single.map(Math.abs)) < 1e3, 'logits in a sane range');
  const first = batched.subarray(0, SMALL_CNN_CLASSES);
  const second = batched.subarray(SMALL_CNN_CLASSES, 2 * SMALL_CNN_CLASSES);
  assert.ok(first.some((v, i) => Math.abs(v - (second[i] ?? v)) > 1e-4), 'different images give different logits');

  assertClose(batched.subarray(2 * SMALL_CNN_CLASSES, 3 * SMALL_CNN_CLASSES), single, 1e-4, 'image #2 in batch 4 vs batch 1');
  assertClose(await runCnn(session, probe, 1), single, 1e-4, 'same input twice');
});

test('CNN single-image latency with 1 and 2 intra-op threads (informational)', async () => {
  const image = new SeededRandom(11).uniformArray(IMAGE);
  for (const threads of [1, 2]) {
    const session = await cnnSession(threads);
    await runCnn(session, image, 1); // warm-up
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = process.hrtime.bigint();
      await runCnn(session, image, 1);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    times.sort((a, b) => a - b);
    console.log(
      `small CNN batch 1, intraOpNumThreads=${threads}: median ${(times[2] ?? NaN).toFixed(1)} ms ` +
        `(min ${(times[0] ?? NaN).toFixed(1)} ms, max ${(times[4] ?? NaN).toFixed(1)} ms)`,
    );
  }
});

test('ensureModels writes, keeps and repairs the model files', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cs-models-'));
  try {
    const [a, b] = await Promise.all([ensureModels(dir), ensureModels(dir)]); // concurrent callers
    assert.deepEqual(a, b);
    assert.equal(a.tiny, join(dir, EXAMPLE_MODELS.tiny));
    assert.equal(a.cnn, join(dir, EXAMPLE_MODELS.cnn));
    assert.deepEqual(Object.keys(a), ['tiny', 'cnn', 'resnet18', 'mobilenetv2'], 'all four models by default');
    assert.ok((await readFile(a.tiny)).equals(Buffer.from(buildTinyModel())));
    assert.ok((await readFile(a.cnn)).equals(Buffer.from(cnnBytes)));

    await writeFile(a.tiny, 'corrupt');
    await ensureModels(dir);
    assert.ok((await readFile(a.tiny)).equals(Buffer.from(buildTinyModel())), 'corrupt file rewritten');
    const session = await ort.InferenceSession.create(a.tiny);
    assert.deepEqual([...session.outputNames], ['output']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('defaultModelsDir() is <package root>/models', () => {
  const dir = defaultModelsDir();
  assert.match(dir, /[\\/]models$/);
  assert.ok(!/[\\/]dist[\\/]models$/.test(dir), 'not inside dist/');
});
