import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { InputQueue } from '../../src/client/input-queue';
import { fromFloat16, toFloat16 } from '../../src/tensor/float16';
import { toTypedArray, type Tensor } from '../../src/tensor/tensor';
import type { NativeResult } from '../../src/protocol/native/native-codec';
import { testRedisUrl, stopTestRedis } from '../support/redis';
import { testModels } from '../support/test-models';
import { startSubtask } from '../support/subtask';
import { uniqueName } from '../support/wait-for';

const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];
const SCALE = 1 / 255;
const PIXELS = 3 * 224 * 224;

/** A photo-like NCHW uint8 image [1, 3, 224, 224]: gradients, a disc and texture that differ with `seed`. */
function image(seed: number): Uint8Array {
  const out = new Uint8Array(PIXELS);
  for (let y = 0; y < 224; y++) {
    for (let x = 0; x < 224; x++) {
      const disc = (x - 60 - 9 * seed) ** 2 + (y - 112) ** 2 < 2500;
      const at = y * 224 + x;
      out[at] = disc ? 230 : (x + 13 * seed) & 0xff;
      out[224 * 224 + at] = disc ? 40 + 20 * seed : (y * 255) / 224;
      out[2 * 224 * 224 + at] = 128 + 90 * Math.sin((x * (seed + 1) + 2 * y) / 9);
    }
  }
  return out;
}

/** What a client normalising on its side would send: (x / 255 − mean[c]) / std[c] as float32, NCHW. */
function normalized(pixels: Uint8Array): Float32Array {
  return Float32Array.from(pixels, (v, i) => {
    const c = Math.floor(i / (224 * 224));
    return (v * SCALE - MEAN[c]!) / STD[c]!;
  });
}

const floats = (t: Tensor | undefined): Float32Array => {
  assert.ok(t, 'output missing');
  return toTypedArray(t) as Float32Array;
};

/** Largest absolute difference, relative to the largest magnitude of `expected`. */
function relativeError(actual: Float32Array, expected: Float32Array): number {
  assert.equal(actual.length, expected.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return diff / scale;
}

function ok(res: NativeResult, what: string): Map<string, Tensor> {
  assert.equal(res.error, undefined, `${what}: ${res.error?.code} ${res.error?.message}`);
  return res.outputs;
}

describe('compact wire dtypes end to end (real Redis, SubtaskRunner, ONNX Runtime)', () => {
  let url: string;
  let models: Awaited<ReturnType<typeof testModels>>;
  let cnn: ort.InferenceSession;

  before(async () => {
    url = await testRedisUrl();
    models = await testModels();
    cnn = await ort.InferenceSession.create(models.cnn, { intraOpNumThreads: 1 });
  });
  after(async () => {
    await cnn?.release();
    await stopTestRedis();
  });

  test('uint8 (normalised on the server) and float16 images give the float32 image\'s scores; a bad dtype fails alone', async () => {
    const name = uniqueName('compact-cnn');
    const runner = await startSubtask(url, {
      name,
      source: { type: 'redis' },
      decode: { type: 'tensor', normalize: { scale: SCALE, mean: MEAN, std: STD } },
      model: { path: models.cnn, threads: 1 },
      batch: { maxSize: 8, maxDelayMs: 20 },
    });
    const q = new InputQueue({ redis: url, stream: name });
    try {
      const shape = [1, 3, 224, 224];
      const seeds = [0, 1, 2];
      const pixels = seeds.map(image);
      const f32 = pixels.map(normalized);
      // One burst: float32, uint8 and float16 requests share batches, and an int32 one sits between them.
      const sent = await Promise.all([
        ...f32.map((data) => q.predictResult({ input: { data, shape } }, { timeoutMs: 60_000 })),
        ...pixels.map((data) => q.predictResult({ input: { data, shape } }, { timeoutMs: 60_000 })),
        q.predictResult({ input: { data: new Int32Array(PIXELS), shape } }, { timeoutMs: 60_000 }),
        ...f32.map((data) => q.predictResult({ input: { data: toFloat16(data), shape } }, { timeoutMs: 60_000 })),
      ]);
      const [f32Res, u8Res, bad, f16Res] = [sent.slice(0, 3), sent.slice(3, 6), sent[6]!, sent.slice(7)];
      assert.equal(bad.error?.code, 'CS_ERR_SHAPE');
      assert.match(bad.error!.message, /input input: dtype int32, expected float32 \(or float16 or uint8, converted to float32\)/);
      for (const k of seeds.keys()) {
        const direct = (await cnn.run({ input: new ort.Tensor('float32', f32[k]!, shape) })).logits!.data as Float32Array;
        const fromF32 = floats(ok(f32Res[k]!, `float32 ${k}`).get('logits'));
        const fromU8 = floats(ok(u8Res[k]!, `uint8 ${k}`).get('logits'));
        const fromF16 = floats(ok(f16Res[k]!, `float16 ${k}`).get('logits'));
        // The server normalises uint8 with the same formula rounded once to float32: the same input bits.
        assert.ok(relativeError(fromF32, direct) < 1e-5, `float32 ${k} vs direct ORT: ${relativeError(fromF32, direct)}`);
        assert.ok(relativeError(fromU8, fromF32) < 1e-5, `uint8 ${k} vs float32: ${relativeError(fromU8, fromF32)}`);
        // float16 rounds each input value by up to 2^-11 relative.
        const f16Error = relativeError(fromF16, fromF32);
        assert.ok(f16Error < 2e-3, `float16 ${k} vs float32: ${f16Error}`);
        const f16Direct = (await cnn.run({ input: new ort.Tensor('float32', fromFloat16(toFloat16(f32[k]!)), shape) })).logits!.data as Float32Array;
        assert.ok(relativeError(fromF16, f16Direct) < 1e-5, `float16 ${k}: the server casts exactly as fromFloat16 does`);
      }
    } finally {
      await q.close();
      await runner.close();
    }
  });

  test('without decode.normalize a uint8 tensor is cast as it is (0–255), and float16 is cast too', async () => {
    const name = uniqueName('compact-tiny');
    const runner = await startSubtask(url, { name, source: { type: 'redis' }, model: { path: models.tiny }, batch: { maxSize: 8, maxDelayMs: 5 } });
    const q = new InputQueue({ redis: url, stream: name });
    try {
      const bytes = Uint8Array.from({ length: 32 }, (_, i) => (i * 37) & 0xff);
      const asFloats = Float32Array.from(bytes);
      const [u8, f32, f16] = await Promise.all([
        q.predict({ input: { data: bytes, shape: [2, 16] } }),
        q.predict({ input: { data: asFloats, shape: [2, 16] } }),
        q.predict({ input: { data: toFloat16(asFloats), shape: [2, 16] } }), // 0–255 are exact in float16
      ]);
      assert.deepEqual([...floats(u8.get('output'))], [...floats(f32.get('output'))]);
      assert.deepEqual([...floats(f16.get('output'))], [...floats(f32.get('output'))]);
    } finally {
      await q.close();
      await runner.close();
    }
  });
});
