import { strict as assert } from 'node:assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import * as ort from 'onnxruntime-node';
import { JobManagerClient } from '../../src/cluster-api/jobmanager-client';
import type { TopologySource } from '../../src/cluster-api/dto';
import { createLogger } from '../../src/logging/logger';
import { ensureModels } from '../../src/models/generate';
import type { GrpcModelInferRequest } from '../../src/protocol/kserve-v2/grpc-messages';
import type { JobManager } from '../../jobmanager/main';
import { GRPC_LOADER_OPTIONS, GRPC_PROTO_PATH } from '../../jobmanager/grpc/grpc-server';
import { startTestJobManager } from '../support/jobmanager';
import { startTaskManager, type TaskManager } from '../../taskmanager/main';
import { stopTestRedis, testRedisUrl } from '../support/redis';
import { uniqueName, waitFor } from '../support/wait-for';

const LOG_LEVEL = process.env.CS_TEST_LOG_LEVEL ?? 'silent';

interface InferReply {
  model_name: string;
  model_version: string;
  id: string;
  outputs: { name: string; datatype: string; shape: string[] }[];
  raw_output_contents: Buffer[];
}

type Unary = (request: object, callback: (err: grpc.ServiceError | null, reply?: unknown) => void) => void;

/** A grpc-js client of inference.GRPCInferenceService, from the same proto file the server loads. */
function inferenceClient(address: string): grpc.Client & Record<string, Unary> {
  const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(GRPC_PROTO_PATH, GRPC_LOADER_OPTIONS)) as unknown as { inference: { GRPCInferenceService: grpc.ServiceClientConstructor } };
  return new pkg.inference.GRPCInferenceService(address, grpc.credentials.createInsecure()) as grpc.Client & Record<string, Unary>;
}

function rows(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n * 16 }, (_, i) => Math.cos(seed * 17 + i) * 3);
}

function float32s(bytes: Buffer): number[] {
  return [...new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength))];
}

describe('KServe v2 gRPC API on the JobManager (real Redis, JobManager + TaskManager, real ONNX Runtime, grpc-js client)', () => {
  let dir: string;
  let jm: JobManager;
  let tm: TaskManager;
  let session: ort.InferenceSession;
  let client: grpc.Client & Record<string, Unary>;
  const name = uniqueName('kgrpc');
  const topName = uniqueName('kgrpc-top2');
  const jobIds: string[] = [];

  /** One unary call: resolves to the reply, or to the ServiceError it failed with. */
  function rpc<T>(method: string, request: object): Promise<{ reply?: T; error?: grpc.ServiceError }> {
    return new Promise((resolve) => client[method]!.call(client, request, (error, reply) => resolve(error ? { error } : { reply: reply as T })));
  }

  async function infer(request: GrpcModelInferRequest): Promise<InferReply> {
    const { reply, error } = await rpc<InferReply>('ModelInfer', request);
    assert.ifError(error);
    return reply!;
  }

  async function inferError(request: GrpcModelInferRequest): Promise<grpc.ServiceError> {
    const { error } = await rpc<InferReply>('ModelInfer', request);
    assert.ok(error, 'the call should fail');
    return error;
  }

  async function direct(x: Float32Array, n: number): Promise<number[]> {
    const out = await session.run({ input: new ort.Tensor('float32', x, [n, 16]) });
    return [...(out.output!.data as Float32Array)];
  }

  function topology(jobName: string, modelPath: string, postprocess = 'none'): TopologySource {
    const source = [`name: ${jobName}`, 'source:', '  type: redis', 'batch:', '  maxSize: 16', '  maxDelayMs: 2', 'model:', `  path: ${modelPath}`, `postprocess: ${postprocess}`, ''].join('\n');
    return { filename: `${jobName}.yaml`, source, baseDir: dir };
  }

  before(async () => {
    const redisUrl = await testRedisUrl();
    dir = await mkdtemp(join(tmpdir(), 'cs-kserve-grpc-test-'));
    const models = await ensureModels(join(dir, 'models'));
    session = await ort.InferenceSession.create(models.tiny);
    const cacheDir = join(dir, 'cache');
    jm = await startTestJobManager({ redisUrl, cacheDir, grpcPort: 0 });
    assert.match(jm.grpcAddress ?? '', /^127\.0\.0\.1:\d+$/);
    tm = await startTaskManager({ jobmanagerUrl: jm.url, redisUrl, cacheDir, slots: 2, logger: createLogger('taskmanager', LOG_LEVEL) });
    const control = new JobManagerClient(jm.url);
    jobIds.push((await control.submitJob(topology(name, models.tiny))).jobId);
    jobIds.push((await control.submitJob(topology(topName, models.tiny, '{ type: topN, n: 2 }'))).jobId);
    client = inferenceClient(jm.grpcAddress!);
    for (const model of [name, topName]) {
      await waitFor(async () => (await rpc<{ ready: boolean }>('ModelReady', { name: model })).reply?.ready === true, { maxWaitMs: 20_000, what: `${model} to be ready over gRPC` });
    }
  });

  after(async () => {
    client?.close();
    for (const id of jobIds) await new JobManagerClient(jm.url).cancelJob(id).catch(() => undefined);
    await tm?.close();
    await jm?.close();
    await session?.release();
    await rm(dir, { recursive: true, force: true });
    await stopTestRedis();
  });

  it('answers ServerLive, ServerReady and ServerMetadata', async () => {
    assert.deepEqual((await rpc('ServerLive', {})).reply, { live: true });
    assert.deepEqual((await rpc('ServerReady', {})).reply, { ready: true });
    const meta = (await rpc<{ name: string; version: string; extensions: string[] }>('ServerMetadata', {})).reply!;
    assert.equal(meta.name, 'cluster-serving');
    assert.match(meta.version, /^\d+\.\d+\.\d+/);
  });

  it('answers ModelReady and ModelMetadata as the HTTP API does; an unknown model or version is NOT_FOUND', async () => {
    assert.deepEqual((await rpc('ModelReady', { name, version: '1' })).reply, { ready: true });
    const meta = (await rpc('ModelMetadata', { name })).reply;
    assert.deepEqual(meta, {
      name,
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'input', datatype: 'FP32', shape: ['-1', '16'] }],
      outputs: [{ name: 'output', datatype: 'FP32', shape: ['-1', '8'] }],
    });
    const http = await fetch(`${jm.url}/v2/models/${name}`).then((r) => r.json() as Promise<{ inputs: { shape: number[] }[] }>);
    assert.deepEqual(http.inputs[0]!.shape, [-1, 16]);
    for (const [method, request] of [['ModelReady', { name: 'no-such-model' }], ['ModelMetadata', { name: 'no-such-model' }], ['ModelMetadata', { name, version: '2' }]] as const) {
      const { error } = await rpc(method, request);
      assert.equal(error?.code, grpc.status.NOT_FOUND, `${method} ${JSON.stringify(request)}`);
    }
  });

  it('infers with raw_input_contents through the job stream: raw_output_contents equal to onnxruntime-node, id echoed', async () => {
    const x = rows(3, 1);
    const reply = await infer({ model_name: name, id: 'g-1', inputs: [{ name: 'input', datatype: 'FP32', shape: ['3', '16'] }], raw_input_contents: [Buffer.from(x.buffer)] });
    assert.equal(reply.model_name, name);
    assert.equal(reply.model_version, '1');
    assert.equal(reply.id, 'g-1');
    assert.deepEqual(reply.outputs, [{ name: 'output', datatype: 'FP32', shape: ['3', '8'] }]);
    assert.equal(reply.raw_output_contents.length, 1);
    assert.deepEqual(float32s(reply.raw_output_contents[0]!), await direct(x, 3));
  });

  it('infers with typed contents (fp32_contents), and version "1" by name', async () => {
    const x = rows(2, 2);
    const reply = await infer({ model_name: name, model_version: '1', inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 16], contents: { fp32_contents: [...x] } }] });
    assert.deepEqual(float32s(reply.raw_output_contents[0]!), await direct(x, 2));
  });

  it('returns the requested outputs of a postprocessed job in request order', async () => {
    const x = rows(1, 3);
    const reply = await infer({ model_name: topName, inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16] }], raw_input_contents: [Buffer.from(x.buffer)], outputs: [{ name: 'output_scores' }, { name: 'output_indices' }] });
    assert.deepEqual(reply.outputs.map((o) => [o.name, o.datatype, o.shape]), [['output_scores', 'FP32', ['1', '2']], ['output_indices', 'INT32', ['1', '2']]]);
    const expected = await direct(x, 1);
    const indices = [...new Int32Array(new Uint8Array(reply.raw_output_contents[1]!).buffer)];
    assert.deepEqual(indices, [...expected.keys()].sort((a, b) => expected[b]! - expected[a]!).slice(0, 2));
  });

  it('refuses a wrong shape with INVALID_ARGUMENT naming the input and the expected shape, as the HTTP API does', async () => {
    const err = await inferError({ model_name: name, inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 15] }], raw_input_contents: [Buffer.alloc(60)] });
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
    assert.match(err.details, /input "input": shape \[1, 15\] does not match the model's \[-1, 16\]/);
    assert.equal(err.metadata.get('cs-error-code')[0], 'CS_ERR_SHAPE');
    const http = await fetch(`${jm.url}/v2/models/${name}/infer`, { method: 'POST', body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 15], data: new Array(15).fill(0) }] }) });
    assert.equal(((await http.json()) as { error: string }).error, err.details);
  });

  it('refuses a wrong datatype, a raw size that does not match the shape, mixed raw and typed data, and a bad element count with INVALID_ARGUMENT', async () => {
    const cases: [GrpcModelInferRequest, RegExp][] = [
      [{ model_name: name, inputs: [{ name: 'input', datatype: 'FP64', shape: [1, 16] }], raw_input_contents: [Buffer.alloc(128)] }, /input "input": datatype FP64, the model expects FP32/],
      [{ model_name: name, inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16] }], raw_input_contents: [Buffer.alloc(60)] }, /input "input": raw_input_contents has 60 bytes, FP32 shape \[1, 16\] needs 64/],
      [{ model_name: name, inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16], contents: { fp32_contents: [1] } }], raw_input_contents: [Buffer.alloc(64)] }, /contents must not be set when raw_input_contents is used/],
      [{ model_name: name, inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16], contents: { fp32_contents: [1, 2] } }] }, /input "input": contents.fp32_contents has 2 elements, shape \[1, 16\] needs 16/],
      [{ model_name: name, inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16], contents: { int_contents: new Array(16).fill(1) } }] }, /takes its elements in contents.fp32_contents/],
      [{ model_name: name, inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 16] }], raw_input_contents: [Buffer.alloc(64)] }, /unknown input "x"/],
    ];
    for (const [request, message] of cases) {
      const err = await inferError(request);
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT, err.details);
      assert.match(err.details, message);
    }
  });

  it('answers NOT_FOUND for inference on an unknown model or version, INVALID_ARGUMENT for an unknown output', async () => {
    const request = { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16] }], raw_input_contents: [Buffer.alloc(64)] };
    const unknown = await inferError({ ...request, model_name: 'no-such-model' });
    assert.equal(unknown.code, grpc.status.NOT_FOUND);
    assert.match(unknown.details, /unknown model "no-such-model"/);
    assert.equal((await inferError({ ...request, model_name: name, model_version: '7' })).code, grpc.status.NOT_FOUND);
    const output = await inferError({ ...request, model_name: name, outputs: [{ name: 'nope' }] });
    assert.equal(output.code, grpc.status.INVALID_ARGUMENT);
    assert.match(output.details, /output "nope" is not an output/);
  });

  it('answers concurrent gRPC and HTTP requests, each with its own result', async () => {
    const n = 40;
    const calls = Array.from({ length: n }, async (_, k) => {
      const x = rows(1, 100 + k);
      let got: number[];
      if (k % 2 === 0) {
        const reply = await infer({ model_name: name, inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16] }], raw_input_contents: [Buffer.from(x.buffer)] });
        got = float32s(reply.raw_output_contents[0]!);
      } else {
        const res = await fetch(`${jm.url}/v2/models/${name}/infer`, { method: 'POST', body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16], data: [...x] }] }) });
        got = ((await res.json()) as { outputs: { data: number[] }[] }).outputs[0]!.data;
      }
      assert.deepEqual(got, await direct(x, 1));
    });
    await Promise.all(calls);
  });
});
