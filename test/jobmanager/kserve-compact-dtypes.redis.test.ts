import { strict as assert } from 'node:assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { JobManagerClient } from '../../src/cluster-api/jobmanager-client';
import { createLogger } from '../../src/logging/logger';
import { ensureModels } from '../../src/models/generate';
import type { ErrorResponse, InferResponse } from '../../src/protocol/kserve-v2/messages';
import { toFloat16 } from '../../src/tensor/float16';
import type { JobManager } from '../../jobmanager/main';
import { startTaskManager, type TaskManager } from '../../taskmanager/main';
import { startTestJobManager } from '../support/jobmanager';
import { stopTestRedis, testRedisUrl } from '../support/redis';
import { uniqueName, waitFor } from '../support/wait-for';

const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];
const SHAPE = [1, 3, 224, 224];
const PIXELS = 3 * 224 * 224;

/** A deterministic NCHW uint8 image. */
function image(): Uint8Array {
  return Uint8Array.from({ length: PIXELS }, (_, i) => (Math.floor(i / 224) * 3 + (i % 224) * 7 + Math.floor(i / (224 * 224)) * 50) & 0xff);
}

/** (x / 255 − mean[c]) / std[c] as float32, what a client normalising itself sends. */
function normalized(pixels: Uint8Array): Float32Array {
  return Float32Array.from(pixels, (v, i) => {
    const c = Math.floor(i / (224 * 224));
    return (v / 255 - MEAN[c]!) / STD[c]!;
  });
}

function relativeError(actual: readonly number[], expected: readonly number[]): number {
  assert.equal(actual.length, expected.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return diff / scale;
}

describe('KServe v2 with compact datatypes (real Redis, JobManager + TaskManager, ONNX Runtime)', () => {
  let redisUrl: string;
  let dir: string;
  let jm: JobManager;
  let tm: TaskManager;
  let base: string;
  let jobId: string;
  const name = uniqueName('kserve-compact');

  /** One binary-data inference of `data` as `datatype`; the scores come back as JSON. */
  async function inferBinary(datatype: string, data: ArrayBufferView): Promise<{ status: number; json: InferResponse & ErrorResponse }> {
    const head = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', datatype, shape: SHAPE, parameters: { binary_data_size: data.byteLength } }] }));
    const response = await fetch(`${base}/models/${name}/infer`, {
      method: 'POST',
      body: Buffer.concat([head, Buffer.from(data.buffer, data.byteOffset, data.byteLength)]),
      headers: { 'inference-header-content-length': String(head.byteLength) },
    });
    return { status: response.status, json: (await response.json()) as InferResponse & ErrorResponse };
  }

  const scores = (r: { status: number; json: InferResponse & ErrorResponse }, what: string): number[] => {
    assert.equal(r.status, 200, `${what}: ${JSON.stringify(r.json.error)}`);
    const out = r.json.outputs.find((o) => o.name === 'logits');
    assert.equal(out?.datatype, 'FP32');
    return out!.data as number[];
  };

  before(async () => {
    redisUrl = await testRedisUrl();
    dir = await mkdtemp(join(tmpdir(), 'cs-kserve-compact-'));
    const models = await ensureModels(join(dir, 'models'));
    const cacheDir = join(dir, 'cache');
    jm = await startTestJobManager({ redisUrl, cacheDir });
    tm = await startTaskManager({ jobmanagerUrl: jm.url, redisUrl, cacheDir, slots: 1, logger: createLogger('taskmanager', process.env.CS_TEST_LOG_LEVEL ?? 'silent') });
    base = `${jm.url}/v2`;
    const source = [
      `name: ${name}`,
      'source: { type: redis }',
      `decode: { type: tensor, normalize: { scale: 0.00392156862745098, mean: [${MEAN.join(', ')}], std: [${STD.join(', ')}] } }`,
      'batch: { maxSize: 8, maxDelayMs: 5 }',
      `model: { path: ${models.cnn} }`,
      '',
    ].join('\n');
    jobId = (await new JobManagerClient(jm.url).submitJob({ filename: `${name}.yaml`, source, baseDir: dir })).jobId;
    await waitFor(async () => (await fetch(`${base}/models/${name}/ready`)).status === 200, { maxWaitMs: 30_000, what: `${name} to be ready` });
  });

  after(async () => {
    await new JobManagerClient(jm.url).cancelJob(jobId).catch(() => undefined);
    await tm?.close();
    await jm?.close();
    await rm(dir, { recursive: true, force: true });
    await stopTestRedis();
  });

  it('UINT8 (a quarter of the bytes) and FP16 (half), binary or JSON, give the FP32 image\'s scores', async () => {
    const pixels = image();
    const f32 = normalized(pixels);
    const half = toFloat16(f32);
    const [fromF32, fromU8, fromF16] = await Promise.all([inferBinary('FP32', f32), inferBinary('UINT8', pixels), inferBinary('FP16', half)]);
    const want = scores(fromF32, 'FP32');
    assert.ok(relativeError(scores(fromU8, 'UINT8'), want) < 1e-5, 'UINT8 is normalised by the job exactly as the client did');
    const f16Error = relativeError(scores(fromF16, 'FP16'), want);
    assert.ok(f16Error < 2e-3, `FP16 within float16 rounding: ${f16Error}`);
    const json = await fetch(`${base}/models/${name}/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP16', shape: SHAPE, data: Array.from(f32) }] }),
    });
    const fromJson = (await json.json()) as InferResponse & ErrorResponse;
    // JSON numbers round to the same float16 as toFloat16 (the run may batch differently: not bit for bit).
    assert.ok(relativeError(scores({ status: json.status, json: fromJson }, 'FP16 JSON'), scores(fromF16, 'FP16')) < 1e-5);
  });

  it('refuses a datatype the job cannot convert, naming what the input takes; metadata still shows FP32', async () => {
    const bad = await inferBinary('INT32', new Int32Array(PIXELS));
    assert.equal(bad.status, 400);
    assert.match(bad.json.error, /input "input": datatype INT32, the model expects FP32 \(or FP16, UINT8, which the server converts to FP32\)/);
    const meta = (await (await fetch(`${base}/models/${name}`)).json()) as { inputs: unknown[] };
    assert.deepEqual(meta.inputs, [{ name: 'input', datatype: 'FP32', shape: [-1, 3, 224, 224] }]);
  });
});
