import { strict as assert } from 'node:assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { imageToTensor } from '../../src/operators/image-to-tensor';
import { InputQueue } from '../../src/client/input-queue';
import { JobManagerClient } from '../../src/cluster-api/jobmanager-client';
import type { TopologySource } from '../../src/cluster-api/dto';
import { createLogger } from '../../src/logging/logger';
import { ensureModels } from '../../src/models/generate';
import type { ErrorResponse, InferResponse, ModelMetadataResponse, ServerMetadataResponse } from '../../src/protocol/kserve-v2/messages';
import { toTypedArray } from '../../src/tensor/tensor';
import type { JobManager } from '../../jobmanager/main';
import { startTestJobManager } from '../support/jobmanager';
import { startTaskManager, type TaskManager } from '../../taskmanager/main';
import { stopTestRedis, testRedisUrl } from '../support/redis';
import { uniqueName, waitFor } from '../support/wait-for';

const LOG_LEVEL = process.env.CS_TEST_LOG_LEVEL ?? 'silent';

interface Reply<T> {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly json: T;
}

/** One HTTP call; the body is parsed as JSON when there is one. */
async function call<T = unknown>(method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply<T>> {
  const init: RequestInit = { method, headers };
  if (body !== undefined) {
    init.body = Buffer.isBuffer(body) ? body : JSON.stringify(body);
    if (!Buffer.isBuffer(body)) init.headers = { 'content-type': 'application/json', ...headers };
  }
  const response = await fetch(url, init);
  const text = await response.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json: json as T };
}

/** A deterministic input row batch for the tiny model (input float32 [batch, 16]). */
function inputRows(rows: number, seed: number): Float32Array {
  return Float32Array.from({ length: rows * 16 }, (_, i) => Math.sin(seed * 31 + i) * 2);
}

describe('KServe v2 REST API on the JobManager (real Redis, JobManager + TaskManager, real ONNX Runtime)', () => {
  let redisUrl: string;
  let dir: string;
  let tinyModel: string;
  let jm: JobManager;
  let tm: TaskManager;
  let session: ort.InferenceSession;
  let base: string;
  const name = uniqueName('kserve');
  const topName = uniqueName('kserve-top3');
  const imageName = uniqueName('kserve-image');
  let jobId: string;
  let topJobId: string;
  let imageJobId: string;
  let cnnModel: string;

  /** What onnxruntime-node computes directly for the same input. */
  async function direct(x: Float32Array, rows: number): Promise<number[]> {
    const out = await session.run({ input: new ort.Tensor('float32', x, [rows, 16]) });
    return [...(out.output!.data as Float32Array)];
  }

  function topology(jobName: string, modelPath: string, postprocess = 'none'): TopologySource {
    const source = [`name: ${jobName}`, 'source:', '  type: redis', 'batch:', '  maxSize: 16', '  maxDelayMs: 2', 'model:', `  path: ${modelPath}`, `postprocess: ${postprocess}`, ''].join('\n');
    return { filename: `${jobName}.yaml`, source, baseDir: dir };
  }

  before(async () => {
    redisUrl = await testRedisUrl();
    dir = await mkdtemp(join(tmpdir(), 'cs-kserve-test-'));
    const models = await ensureModels(join(dir, 'models'), ['tiny', 'cnn']);
    tinyModel = models.tiny;
    cnnModel = models.cnn;
    session = await ort.InferenceSession.create(tinyModel);
    const cacheDir = join(dir, 'cache');
    jm = await startTestJobManager({ redisUrl, cacheDir });
    // Three slots: the tiny job, its top-3 twin and an image job take them, so a fourth job stays CREATED (not ready).
    tm = await startTaskManager({ jobmanagerUrl: jm.url, redisUrl, cacheDir, slots: 3, logger: createLogger('taskmanager', LOG_LEVEL) });
    base = `${jm.url}/v2`;
    jobId = (await new JobManagerClient(jm.url).submitJob(topology(name, tinyModel))).jobId;
    topJobId = (await new JobManagerClient(jm.url).submitJob(topology(topName, tinyModel, '{ type: topN, n: 3 }'))).jobId;
    const imageTopology = topology(imageName, cnnModel);
    imageJobId = (await new JobManagerClient(jm.url).submitJob({ ...imageTopology, source: `${imageTopology.source}decode: { type: image, width: 224, height: 224, scale: 0.00392156862745098 }\n` })).jobId;
    for (const model of [name, topName, imageName]) {
      await waitFor(async () => (await call('GET', `${base}/models/${model}/ready`)).status === 200, { maxWaitMs: 20_000, what: `${model} to be ready` });
    }
  });

  after(async () => {
    await new JobManagerClient(jm.url).cancelJob(jobId).catch(() => undefined);
    await new JobManagerClient(jm.url).cancelJob(topJobId).catch(() => undefined);
    await new JobManagerClient(jm.url).cancelJob(imageJobId).catch(() => undefined);
    await tm?.close();
    await jm?.close();
    await session?.release();
    await rm(dir, { recursive: true, force: true });
    await stopTestRedis();
  });

  it('answers health and server metadata', async () => {
    const live = await call('GET', `${base}/health/live`);
    assert.equal(live.status, 200);
    assert.equal(live.text, '');
    assert.equal((await call('GET', `${base}/health/ready`)).status, 200);
    const meta = await call<ServerMetadataResponse>('GET', base);
    assert.equal(meta.status, 200);
    assert.equal(meta.json.name, 'cluster-serving');
    assert.match(meta.json.version, /^\d+\.\d+\.\d+/);
    assert.deepEqual(meta.json.extensions, ['binary_tensor_data']);
  });

  it('describes the model from its file: name = job name, platform, inputs and outputs with -1 for the batch', async () => {
    const meta = await call<ModelMetadataResponse>('GET', `${base}/models/${name}`);
    assert.equal(meta.status, 200, meta.text);
    assert.deepEqual(meta.json, {
      name,
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 16] }],
      outputs: [{ name: 'output', datatype: 'FP32', shape: [-1, 8] }],
    });
    assert.deepEqual((await call('GET', `${base}/models/${name}/versions/1`)).json, meta.json);
    assert.equal((await call('GET', `${base}/models/${name}/versions/2`)).status, 404);
  });

  it('reports model readiness: 200 for the running job, 404 for an unknown model', async () => {
    const ready = await call('GET', `${base}/models/${name}/ready`);
    assert.equal(ready.status, 200);
    assert.equal(ready.text, '');
    assert.equal((await call('GET', `${base}/models/${name}/versions/1/ready`)).status, 200);
    const unknown = await call<ErrorResponse>('GET', `${base}/models/no-such-model/ready`);
    assert.equal(unknown.status, 404);
    assert.match(unknown.json.error, /no-such-model/);
  });

  it('infers through the job stream: JSON in (nested data), JSON out equal to onnxruntime-node run directly', async () => {
    const x = inputRows(2, 1);
    const nested = [Array.from(x.subarray(0, 16)), Array.from(x.subarray(16))];
    const reply = await call<InferResponse>('POST', `${base}/models/${name}/infer`, {
      id: 'req-1',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 16], data: nested }],
    });
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.headers.get('inference-header-content-length'), null);
    assert.equal(reply.json.model_name, name);
    assert.equal(reply.json.id, 'req-1');
    assert.equal(reply.json.outputs.length, 1);
    const [out] = reply.json.outputs;
    assert.deepEqual({ name: out!.name, datatype: out!.datatype, shape: out!.shape }, { name: 'output', datatype: 'FP32', shape: [2, 8] });
    assert.deepEqual(out!.data, await direct(x, 2));
  });

  it('supports the binary tensor data extension both ways (and gzip request bodies)', async () => {
    const x = inputRows(3, 2);
    const json = Buffer.from(
      JSON.stringify({
        inputs: [{ name: 'input', datatype: 'FP32', shape: [3, 16], parameters: { binary_data_size: x.byteLength } }],
        outputs: [{ name: 'output', parameters: { binary_data: true } }],
      }),
    );
    const body = Buffer.concat([json, Buffer.from(x.buffer)]);
    for (const [payload, headers] of [
      [body, { 'inference-header-content-length': String(json.byteLength) }],
      [gzipSync(body), { 'inference-header-content-length': String(json.byteLength), 'content-encoding': 'gzip' }],
    ] as const) {
      const response = await fetch(`${base}/models/${name}/infer`, { method: 'POST', body: payload, headers });
      const bytes = Buffer.from(await response.arrayBuffer());
      assert.equal(response.status, 200, bytes.toString());
      const headerLength = Number(response.headers.get('inference-header-content-length'));
      const head = JSON.parse(bytes.subarray(0, headerLength).toString()) as InferResponse;
      assert.deepEqual(head.outputs, [{ name: 'output', datatype: 'FP32', shape: [3, 8], parameters: { binary_data_size: 3 * 8 * 4 } }]);
      const data = bytes.subarray(headerLength);
      assert.equal(data.byteLength, 3 * 8 * 4);
      const got = new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
      assert.deepEqual([...got], await direct(x, 3));
    }
  });

  it('serves top-N as two tensors: metadata names them, JSON and binary replies carry INT32 indices and FP32 scores', async () => {
    const meta = await call<ModelMetadataResponse>('GET', `${base}/models/${topName}`);
    assert.equal(meta.status, 200, meta.text);
    assert.deepEqual(meta.json.outputs, [
      { name: 'output_indices', datatype: 'INT32', shape: [-1, 3] },
      { name: 'output_scores', datatype: 'FP32', shape: [-1, 3] },
    ]);
    const rows = 2;
    const x = inputRows(rows, 7);
    const full = await direct(x, rows);
    const expected = Array.from({ length: rows }, (_, r) => {
      const row = full.slice(r * 8, r * 8 + 8);
      const order = row.map((_, i) => i).sort((a, b) => row[b]! - row[a]! || a - b).slice(0, 3);
      return { indices: order, scores: order.map((i) => row[i]!) };
    });
    const reply = await call<InferResponse>('POST', `${base}/models/${topName}/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [rows, 16], data: Array.from(x) }] });
    assert.equal(reply.status, 200, reply.text);
    const byName = new Map(reply.json.outputs.map((o) => [o.name, o]));
    assert.deepEqual({ ...byName.get('output_indices'), data: undefined }, { name: 'output_indices', datatype: 'INT32', shape: [rows, 3], data: undefined });
    assert.deepEqual(byName.get('output_indices')!.data, expected.flatMap((e) => e.indices));
    assert.equal(byName.get('output_scores')!.datatype, 'FP32');
    assert.deepEqual(byName.get('output_scores')!.data, Array.from(Float32Array.from(expected.flatMap((e) => e.scores))));

    const binary = await fetch(`${base}/models/${topName}/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [rows, 16], data: Array.from(x) }], outputs: [{ name: 'output_indices', parameters: { binary_data: true } }] }),
    });
    const bytes = Buffer.from(await binary.arrayBuffer());
    assert.equal(binary.status, 200, bytes.toString());
    const headerLength = Number(binary.headers.get('inference-header-content-length'));
    const head = JSON.parse(bytes.subarray(0, headerLength).toString()) as InferResponse;
    assert.deepEqual(head.outputs, [{ name: 'output_indices', datatype: 'INT32', shape: [rows, 3], parameters: { binary_data_size: rows * 3 * 4 } }]);
    const data = bytes.subarray(headerLength);
    assert.deepEqual([...new Int32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength))], expected.flatMap((e) => e.indices));
  });

  it('takes encoded images as BYTES for a decode: image job (base64 JSON and binary), equal to decode + inference done directly', async () => {
    const meta = await call<ModelMetadataResponse>('GET', `${base}/models/${imageName}`);
    assert.equal(meta.status, 200, meta.text);
    assert.deepEqual(meta.json.inputs, [{ name: 'input', datatype: 'BYTES', shape: [1] }]);
    const raw = Buffer.from(Uint8Array.from({ length: 40 * 30 * 3 }, (_, i) => (i * 37 + (i % 3) * 80) & 0xff));
    const png = await sharp(raw, { raw: { width: 40, height: 30, channels: 3 } }).png().toBuffer();
    const jpeg = await sharp(raw, { raw: { width: 40, height: 30, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
    const cnn = await ort.InferenceSession.create(cnnModel);
    const expected = async (bytes: Buffer): Promise<number[]> => {
      const x = await imageToTensor(bytes, { width: 224, height: 224, layout: 'NCHW', channelOrder: 'RGB', scale: 0.00392156862745098 });
      const out = await cnn.run({ input: new ort.Tensor('float32', toTypedArray(x) as Float32Array, [...x.shape]) });
      return [...(out.logits!.data as Float32Array)];
    };
    const close = (got: readonly number[], want: readonly number[], what: string): void => {
      assert.equal(got.length, want.length, what);
      for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) <= 1e-4 * Math.max(1, Math.abs(want[i]!)), `${what}[${i}]: ${got[i]} vs ${want[i]}`);
    };
    try {
      const json = await call<InferResponse>('POST', `${base}/models/${imageName}/infer`, { inputs: [{ name: 'input', datatype: 'BYTES', shape: [1], data: [png.toString('base64')] }] });
      assert.equal(json.status, 200, json.text);
      assert.deepEqual(json.json.outputs[0]!.shape, [1, 1000]);
      close(json.json.outputs[0]!.data as number[], await expected(png), 'PNG as base64 JSON');

      const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: 4 + jpeg.byteLength } }] }));
      const length = Buffer.alloc(4);
      length.writeUInt32LE(jpeg.byteLength);
      const binary = await call<InferResponse>('POST', `${base}/models/${imageName}/infer`, Buffer.concat([header, length, jpeg]), { 'inference-header-content-length': String(header.byteLength) });
      assert.equal(binary.status, 200, binary.text);
      close(binary.json.outputs[0]!.data as number[], await expected(jpeg), 'JPEG as binary data');
    } finally {
      await cnn.release();
    }

    const corrupt = await call<ErrorResponse>('POST', `${base}/models/${imageName}/infer`, { inputs: [{ name: 'input', datatype: 'BYTES', shape: [1], data: [Buffer.from('not an image at all').toString('base64')] }] });
    assert.equal(corrupt.status, 400, corrupt.text);
    assert.match(corrupt.json.error, /cannot decode image/);
    const two = await call<ErrorResponse>('POST', `${base}/models/${imageName}/infer`, { inputs: [{ name: 'input', datatype: 'BYTES', shape: [2], data: [png.toString('base64'), png.toString('base64')] }] });
    assert.equal(two.status, 400);
    assert.match(two.json.error, /input "input": a BYTES input holds one encoded image; shape \[2\] has 2 elements/);
    const notBase64 = await call<ErrorResponse>('POST', `${base}/models/${imageName}/infer`, { inputs: [{ name: 'input', datatype: 'BYTES', shape: [1], data: ['not base64!'] }] });
    assert.equal(notBase64.status, 400);
    assert.match(notBase64.json.error, /BYTES data must be one base64 string/);
    const toTensorJob = await call<ErrorResponse>('POST', `${base}/models/${name}/infer`, { inputs: [{ name: 'input', datatype: 'BYTES', shape: [1], data: [png.toString('base64')] }] });
    assert.equal(toTensorJob.status, 400, toTensorJob.text);
    assert.match(toTensorJob.json.error, /input "input": datatype BYTES \(an encoded image\) is taken by the rank-4 inputs of a job with decode: image; this one expects FP32 \[-1, 16\]/);
  });

  it('refuses a wrong shape with 400 naming the input and the expected shape, before it reaches the stream', async () => {
    const reply = await call<ErrorResponse>('POST', `${base}/models/${name}/infer`, {
      inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 15], data: Array.from({ length: 15 }, () => 0) }],
    });
    assert.equal(reply.status, 400, reply.text);
    assert.match(reply.json.error, /input "input"/);
    assert.match(reply.json.error, /\[-1, 16\]/);
    assert.equal(reply.json.code, 'CS_ERR_SHAPE');
  });

  it('refuses a wrong datatype, an unknown input, a data count that does not match the shape, and malformed JSON with 400', async () => {
    const fp64 = await call<ErrorResponse>('POST', `${base}/models/${name}/infer`, {
      inputs: [{ name: 'input', datatype: 'FP64', shape: [1, 16], data: Array.from({ length: 16 }, () => 0.5) }],
    });
    assert.equal(fp64.status, 400, fp64.text);
    assert.match(fp64.json.error, /input "input": datatype FP64, the model expects FP32/);

    const unknownInput = await call<ErrorResponse>('POST', `${base}/models/${name}/infer`, {
      inputs: [{ name: 'pixels', datatype: 'FP32', shape: [1, 16], data: Array.from({ length: 16 }, () => 0.5) }],
    });
    assert.equal(unknownInput.status, 400);
    assert.match(unknownInput.json.error, /unknown input "pixels"/);

    const short = await call<ErrorResponse>('POST', `${base}/models/${name}/infer`, {
      inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16], data: [1, 2, 3] }],
    });
    assert.equal(short.status, 400);
    assert.match(short.json.error, /input "input": data has 3 elements, shape \[1, 16\] needs 16/);

    const unserved = await call<ErrorResponse>('POST', `${base}/models/${name}/infer`, {
      inputs: [{ name: 'input', datatype: 'BF16', shape: [1, 16], data: Array.from({ length: 16 }, () => 0) }],
    });
    assert.equal(unserved.status, 400);
    assert.match(unserved.json.error, /datatype BF16 is not served/);

    const malformed = await call<ErrorResponse>('POST', `${base}/models/${name}/infer`, Buffer.from('{"inputs": ['), { 'content-type': 'application/json' });
    assert.equal(malformed.status, 400);
    assert.match(malformed.json.error, /not valid JSON/);
  });

  it('answers 404 for inference on an unknown model, and for an unknown output with 400', async () => {
    const unknown = await call<ErrorResponse>('POST', `${base}/models/no-such-model/infer`, {
      inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16], data: Array.from({ length: 16 }, () => 0) }],
    });
    assert.equal(unknown.status, 404);
    assert.match(unknown.json.error, /unknown model "no-such-model"/);
    assert.equal((await call('GET', `${base}/models/no-such-model`)).status, 404);

    const badOutput = await call<ErrorResponse>('POST', `${base}/models/${name}/infer`, {
      inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16], data: Array.from({ length: 16 }, () => 0) }],
      outputs: [{ name: 'logits' }],
    });
    assert.equal(badOutput.status, 400);
    assert.match(badOutput.json.error, /output "logits" is not an output/);
  });

  it('answers concurrent HTTP and stream requests, all correctly (HTTP requests go into the same stream)', async () => {
    const queue = new InputQueue({ redis: redisUrl, stream: name });
    try {
      const n = 40;
      const http = Array.from({ length: n }, async (_, k) => {
        const x = inputRows(1, 100 + k);
        const reply = await call<InferResponse>('POST', `${base}/models/${name}/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16], data: Array.from(x) }] });
        assert.equal(reply.status, 200, reply.text);
        assert.deepEqual(reply.json.outputs[0]!.data, await direct(x, 1));
      });
      const stream = Array.from({ length: n }, async (_, k) => {
        const x = inputRows(1, 500 + k);
        const outputs = await queue.predict({ input: { data: x, shape: [1, 16] } }, { timeoutMs: 20_000 });
        assert.deepEqual([...(toTypedArray(outputs.get('output')!) as Float32Array)], await direct(x, 1));
      });
      await Promise.all([...http, ...stream]);
    } finally {
      await queue.close();
    }
  });

  it('a job waiting for a slot is known but not ready; a missing model is refused at submit', async () => {
    const pending = uniqueName('kserve-pending');
    const client = new JobManagerClient(jm.url);
    // A missing model is refused at submit now; this one is fine but finds no free slot.
    await assert.rejects(client.submitJob(topology(uniqueName('kserve-missing'), join(dir, 'missing-model.onnx'))), /missing-model\.onnx: no such file/);
    const { jobId: pendingId } = await client.submitJob(topology(pending, tinyModel));
    try {
      assert.equal((await client.jobStatus(pendingId)).state, 'CREATED');
      assert.equal((await call('GET', `${base}/models/${pending}/ready`)).status, 400);
      assert.equal((await call('GET', `${base}/health/ready`)).status, 400);
      const infer = await call<ErrorResponse>('POST', `${base}/models/${pending}/infer`, {
        inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16], data: Array.from({ length: 16 }, () => 0) }],
      });
      assert.equal(infer.status, 503, infer.text);
      assert.match(infer.json.error, /not ready/);
    } finally {
      await client.cancelJob(pendingId);
    }
    assert.equal((await call('GET', `${base}/models/${pending}`)).status, 404);
    assert.equal((await call('GET', `${base}/health/ready`)).status, 200);
  });
});
