import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { Agent } from 'undici';
import type { ErrorBody } from '../../src/cluster-api/dto';
import { JobManagerClient } from '../../src/cluster-api/jobmanager-client';
import { startRedisServer, type EmbeddedRedis } from '../../src/embedded/redis-server';
import { ClusterServingError, ConfigError } from '../../src/errors';
import { createLogger } from '../../src/logging/logger';
import { ensureModels } from '../../src/models/generate';
import { GRPC_LOADER_OPTIONS, GRPC_PROTO_PATH } from '../../jobmanager/grpc/grpc-server';
import { startJobManager, type JobManager } from '../../jobmanager/main';
import { startTaskManager, type TaskManager } from '../../taskmanager/main';
import { TEST_MODEL_DIRS, yamlTopology } from '../support/jobmanager';
import { stopTestRedis, testRedisUrl } from '../support/redis';
import { selfSignedCertificate, type TestCertificate } from '../support/tls-cert';
import { uniqueName, waitFor } from '../support/wait-for';

const LOG_LEVEL = process.env.CS_TEST_LOG_LEVEL ?? 'silent';

type Unary = (request: object, metadata: grpc.Metadata, callback: (err: grpc.ServiceError | null, reply?: unknown) => void) => void;
type InferenceClient = grpc.Client & Record<string, Unary>;

function inferenceClient(address: string, credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure()): InferenceClient {
  const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(GRPC_PROTO_PATH, GRPC_LOADER_OPTIONS)) as unknown as { inference: { GRPCInferenceService: grpc.ServiceClientConstructor } };
  return new pkg.inference.GRPCInferenceService(address, credentials) as InferenceClient;
}

/** One unary call with `authorization` metadata when given: the reply, or the error it failed with. */
function rpc<T>(client: InferenceClient, method: string, request: object, authorization?: string): Promise<{ reply?: T; error?: grpc.ServiceError }> {
  const metadata = new grpc.Metadata();
  if (authorization !== undefined) metadata.set('authorization', authorization);
  return new Promise((resolve) => client[method]!.call(client, request, metadata, (error, reply) => resolve(error ? { error } : { reply: reply as T })));
}

interface Reply<T> {
  readonly status: number;
  readonly body: T;
  readonly headers: Headers;
}

/** One HTTP call with an `Authorization` header when given. */
async function call<T>(base: string, method: string, path: string, options: { body?: unknown; authorization?: string; dispatcher?: Agent } = {}): Promise<Reply<T>> {
  const headers: Record<string, string> = {};
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.authorization !== undefined) headers.authorization = options.authorization;
  const init: RequestInit & { dispatcher?: Agent } = { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) };
  if (options.dispatcher) init.dispatcher = options.dispatcher;
  const response = await fetch(`${base}${path}`, init);
  const text = await response.text();
  const json = (response.headers.get('content-type') ?? '').startsWith('application/json');
  return { status: response.status, body: (text && json ? JSON.parse(text) : undefined) as T, headers: response.headers };
}

/** A KServe v2 JSON inference request for the tiny model (input [1, 16]). */
function tinyInfer(seed: number): { inputs: { name: string; datatype: string; shape: number[]; data: number[] }[] } {
  return { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16], data: Array.from({ length: 16 }, (_, i) => Math.cos(seed + i)) }] };
}

describe('JobManager access control: bearer token on REST, KServe HTTP and gRPC (real Redis, JobManager on 0.0.0.0 + TaskManager)', () => {
  const token = randomBytes(24).toString('base64url');
  const bearer = `Bearer ${token}`;
  /** What a caller without the token sends: nothing, a wrong token, another scheme, the token without its scheme. */
  const refused: readonly (string | undefined)[] = [undefined, `Bearer ${token}x`, `Bearer ${randomBytes(24).toString('base64url')}`, `Basic ${Buffer.from(`u:${token}`).toString('base64')}`, token];
  let dir: string;
  let redisUrl: string;
  let jm: JobManager;
  let tm: TaskManager;
  let grpcClient: InferenceClient;
  let tinyModel: string;
  let servedJob: string;
  const served = uniqueName('auth-tiny');

  before(async () => {
    redisUrl = await testRedisUrl();
    dir = await mkdtemp(join(tmpdir(), 'cs-access-control-'));
    tinyModel = (await ensureModels(join(dir, 'models'), ['tiny'])).tiny;
    const cacheDir = join(dir, 'cache');
    jm = await startJobManager({ redisUrl, host: '0.0.0.0', port: 0, grpcPort: 0, cacheDir, heartbeatIntervalMs: 100, heartbeatTimeoutMs: 2000, token, modelDirs: TEST_MODEL_DIRS, logger: createLogger('jobmanager', LOG_LEVEL) });
    tm = await startTaskManager({ jobmanagerUrl: jm.url, redisUrl, cacheDir: join(dir, 'tm'), slots: 1, token, logger: createLogger('taskmanager', LOG_LEVEL) });
    // One slot, taken by this job: the jobs the REST test submits stay CREATED (their model file does not exist).
    const source = [`name: ${served}`, 'source:', '  type: redis', 'batch:', '  maxSize: 8', '  maxDelayMs: 2', 'model:', `  path: ${tinyModel}`, ''].join('\n');
    servedJob = (await new JobManagerClient(jm.url, { token }).submitJob({ filename: `${served}.yaml`, source, baseDir: dir })).jobId;
    grpcClient = inferenceClient(jm.grpcAddress!);
    await waitFor(async () => (await rpc<{ ready: boolean }>(grpcClient, 'ModelReady', { name: served }, bearer)).reply?.ready === true, { maxWaitMs: 30_000, what: `${served} ready` });
  });

  after(async () => {
    grpcClient?.close();
    await new JobManagerClient(jm.url, { token }).cancelJob(servedJob).catch(() => undefined);
    await tm?.close();
    await jm?.close();
    await rm(dir, { recursive: true, force: true });
    await stopTestRedis();
  });

  it('listens beyond loopback only with the token: access "token" in /overview', async () => {
    assert.equal(jm.access, 'token');
    assert.match(jm.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const overview = await call<{ access: string }>(jm.url, 'GET', '/overview', { authorization: bearer });
    assert.equal(overview.status, 200);
    assert.equal(overview.body.access, 'token');
  });

  it('refuses every REST call without the right token (401, CS_ERR_UNAUTHENTICATED, WWW-Authenticate) and changes nothing; with it, each succeeds', async () => {
    const client = new JobManagerClient(jm.url, { token });
    const jobA = (await client.submitJob(yamlTopology(uniqueName('auth-a'), { partitions: 2 }))).jobId;
    const jobB = (await client.submitJob(yamlTopology(uniqueName('auth-b')))).jobId;
    const tmId = uniqueName('tm-auth');
    const newName = uniqueName('auth-c');
    const topology = yamlTopology(newName);
    const requests: { method: string; path: string; body?: unknown; ok: number }[] = [
      { method: 'POST', path: '/jobs', body: { topology }, ok: 200 },
      { method: 'PATCH', path: `/jobs/${jobA}/rescaling?parallelism=2`, ok: 200 },
      { method: 'PATCH', path: `/jobs/${jobA}?mode=cancel`, ok: 200 },
      { method: 'DELETE', path: `/jobs/${jobB}`, ok: 200 },
      { method: 'POST', path: '/taskmanagers', body: { id: tmId, host: 'test-host', slots: 1 }, ok: 200 },
      { method: 'POST', path: `/taskmanagers/${tmId}/heartbeat`, body: { running: [] }, ok: 200 },
      { method: 'DELETE', path: `/taskmanagers/${tmId}`, ok: 204 },
      { method: 'GET', path: '/jobs', ok: 200 },
      { method: 'GET', path: `/jobs/${servedJob}`, ok: 200 },
      { method: 'GET', path: `/jobs/${servedJob}/topology`, ok: 200 },
      { method: 'GET', path: `/jobs/${servedJob}/model`, ok: 200 },
      { method: 'GET', path: `/jobs/${servedJob}/checkpoints`, ok: 200 },
      { method: 'GET', path: '/taskmanagers', ok: 200 },
      { method: 'GET', path: '/overview', ok: 200 },
    ];
    for (const r of [...requests, { method: 'GET', path: '/no/such/route', ok: 404 }]) {
      for (const authorization of refused) {
        const reply = await call<ErrorBody>(jm.url, r.method, r.path, { body: r.body, authorization });
        const what = `${r.method} ${r.path} with ${authorization === undefined ? 'no token' : 'a wrong token'}`;
        assert.equal(reply.status, 401, what);
        assert.equal(reply.body.code, 'CS_ERR_UNAUTHENTICATED', what);
        assert.match(reply.headers.get('www-authenticate') ?? '', /^Bearer/, what);
        assert.equal(JSON.stringify(reply.body).includes(token), false, 'the token is never echoed');
      }
    }
    // Nothing the refused calls asked for happened.
    assert.equal((await client.jobStatus(jobA)).state, 'CREATED');
    assert.equal((await client.jobStatus(jobA)).parallelism, 1);
    assert.equal((await client.jobStatus(jobB)).state, 'CREATED');
    assert.equal((await client.listTaskManagers()).taskmanagers.some((t) => t.id === tmId), false);
    assert.equal((await client.listJobs()).jobs.some((j) => j.name === newName), false);

    for (const r of requests) {
      const reply = await call<unknown>(jm.url, r.method, r.path, { body: r.body, authorization: bearer });
      assert.equal(reply.status, r.ok, `${r.method} ${r.path} with the token: ${JSON.stringify(reply.body)}`);
    }
    assert.equal((await client.jobStatus(jobA)).state, 'CANCELED');
    assert.equal((await client.jobStatus(jobB)).state, 'CANCELED');
    for (const job of (await client.listJobs()).jobs) if (job.name === newName) await client.cancelJob(job.id);
  });

  it('the JobManagerClient without the token gets CS_ERR_UNAUTHENTICATED (not retriable); a TaskManager without it is refused at once', async () => {
    await assert.rejects(new JobManagerClient(jm.url).listJobs(), (err: unknown) => err instanceof ClusterServingError && err.code === 'CS_ERR_UNAUTHENTICATED' && !err.retriable);
    await assert.rejects(new JobManagerClient(jm.url, { token: 'not-it' }).submitJob(yamlTopology(uniqueName('auth-x'))), (err: unknown) => err instanceof ClusterServingError && err.code === 'CS_ERR_UNAUTHENTICATED');
    await assert.rejects(
      startTaskManager({ jobmanagerUrl: jm.url, redisUrl, cacheDir: join(dir, 'tm-no-token'), slots: 1, logger: createLogger('taskmanager', LOG_LEVEL) }),
      (err: unknown) => err instanceof ClusterServingError && err.code === 'CS_ERR_UNAUTHENTICATED',
    );
  });

  it('KServe HTTP: infer (the fast path) and metadata need the token; the health probes stay open', async () => {
    // Open: live is 200; ready is 200 or 400 by the jobs' state, never 401.
    assert.equal((await call(jm.url, 'GET', '/v2/health/live')).status, 200);
    assert.ok([200, 400].includes((await call(jm.url, 'GET', '/v2/health/ready')).status));
    for (const authorization of refused) {
      for (const path of [`/v2/models/${served}/infer`, `/v2/models/${served}/versions/1/infer`]) {
        const reply = await call<{ error: string; code: string }>(jm.url, 'POST', path, { body: tinyInfer(1), authorization });
        assert.equal(reply.status, 401, path);
        assert.equal(reply.body.code, 'CS_ERR_UNAUTHENTICATED');
        assert.equal(typeof reply.body.error, 'string', 'the KServe error shape');
        assert.match(reply.headers.get('www-authenticate') ?? '', /^Bearer/);
      }
      for (const path of ['/v2', `/v2/models/${served}`, `/v2/models/${served}/ready`]) {
        const reply = await call<{ error: string; code: string }>(jm.url, 'GET', path, { authorization });
        assert.equal(reply.status, 401, path);
        assert.deepEqual(Object.keys(reply.body).sort(), ['code', 'error'], path);
      }
    }
    const ok = await call<{ outputs: { name: string; shape: number[]; data: number[] }[] }>(jm.url, 'POST', `/v2/models/${served}/infer`, { body: tinyInfer(1), authorization: bearer });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.deepEqual(ok.body.outputs[0]!.shape, [1, 8]);
    assert.equal((await call(jm.url, 'GET', `/v2/models/${served}`, { authorization: bearer })).status, 200);
  });

  it('KServe gRPC: every call but ServerLive and ServerReady needs metadata authorization (UNAUTHENTICATED otherwise)', async () => {
    assert.deepEqual((await rpc(grpcClient, 'ServerLive', {})).reply, { live: true });
    const ready = await rpc<{ ready: boolean }>(grpcClient, 'ServerReady', {});
    assert.ifError(ready.error);
    assert.equal(typeof ready.reply!.ready, 'boolean');
    const request = { model_name: served, inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16], contents: { fp32_contents: tinyInfer(2).inputs[0]!.data } }] };
    for (const authorization of refused) {
      for (const [method, body] of [['ModelInfer', request], ['ModelMetadata', { name: served }], ['ModelReady', { name: served }], ['ServerMetadata', {}]] as const) {
        const { error } = await rpc(grpcClient, method, body, authorization);
        assert.equal(error?.code, grpc.status.UNAUTHENTICATED, `${method} with ${authorization === undefined ? 'no token' : 'a wrong token'}`);
        assert.equal(error.metadata.get('cs-error-code')[0], 'CS_ERR_UNAUTHENTICATED');
      }
    }
    const { reply, error } = await rpc<{ outputs: { name: string; shape: string[] }[] }>(grpcClient, 'ModelInfer', request, bearer);
    assert.ifError(error);
    assert.deepEqual(reply!.outputs[0]!.shape, ['1', '8']);
  });
});

describe('JobManager listen rules and TLS (real Redis)', () => {
  let dir: string;
  let redis: EmbeddedRedis;
  let cert: TestCertificate;
  const logger = createLogger('jobmanager', LOG_LEVEL);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cs-access-tls-'));
    redis = await startRedisServer();
    cert = await selfSignedCertificate(dir);
  });

  after(async () => {
    await redis?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const base = (more: Record<string, string | number | boolean>) => ({ redisUrl: redis.url, port: 0, cacheDir: join(dir, 'cache'), heartbeatIntervalMs: 100, heartbeatTimeoutMs: 2000, modelDirs: TEST_MODEL_DIRS, logger, ...more });

  it('refuses to listen on 0.0.0.0 or :: without a token, naming --token-file and --insecure', async () => {
    for (const host of ['0.0.0.0', '::']) {
      await assert.rejects(startJobManager(base({ host })), (err: unknown) => {
        assert.ok(err instanceof ConfigError, String(err));
        assert.match(err.message, new RegExp(`would listen on ${host.replace(/\./g, '\\.')}, beyond this machine, with no token`));
        assert.match(err.message, /--token-file/);
        assert.match(err.message, /--insecure/);
        assert.equal(err.message.includes('\n'), false, 'one line');
        return true;
      });
    }
  });

  it('with --insecure it listens beyond loopback open, and says so in /overview; on loopback without a token it is open as before', async () => {
    const insecure = await startJobManager(base({ host: '0.0.0.0', insecure: true }));
    try {
      assert.equal(insecure.access, 'insecure');
      const overview = await call<{ access: string }>(insecure.url, 'GET', '/overview');
      assert.equal(overview.status, 200);
      assert.equal(overview.body.access, 'insecure');
    } finally {
      await insecure.close();
    }
    const loopback = await startJobManager(base({ host: '127.0.0.1' }));
    try {
      assert.equal(loopback.access, 'open');
      assert.equal((await call<{ access: string }>(loopback.url, 'GET', '/overview')).body.access, 'open');
      await assert.rejects(new JobManagerClient(loopback.url.replace(/^http:/, 'https:')).listJobs(), (err: unknown) => {
        assert.ok(err instanceof ClusterServingError && err.code === 'CS_ERR_CONNECTOR' && !err.retriable, String(err));
        assert.match(err.message, /does not answer TLS: use an http:\/\/ URL/);
        return true;
      });
    } finally {
      await loopback.close();
    }
  });

  it('serves https and gRPC over TLS with --tls-cert/--tls-key: a client with the CA gets in, one without gets a clear error', async () => {
    const token = randomBytes(16).toString('hex');
    const jm = await startJobManager(base({ host: '127.0.0.1', grpcPort: 0, token, tlsCert: cert.certFile, tlsKey: cert.keyFile }));
    const grpcClient = inferenceClient(jm.grpcAddress!.replace('127.0.0.1', 'localhost'), grpc.credentials.createSsl(cert.cert));
    try {
      assert.match(jm.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      assert.deepEqual((await new JobManagerClient(jm.url, { token, ca: cert.cert }).listJobs()).jobs, []);
      await assert.rejects(new JobManagerClient(jm.url, { token }).listJobs(), (err: unknown) => {
        assert.ok(err instanceof ClusterServingError);
        assert.equal(err.code, 'CS_ERR_CONNECTOR');
        assert.equal(err.retriable, false, 'a certificate failure is not retried');
        assert.match(err.message, /cannot verify the TLS certificate of the JobManager at https:\/\/127\.0\.0\.1:\d+ \(self[- ]signed certificate\): give the CA that signed it with --ca FILE \(CS_CA_FILE\)/);
        return true;
      });
      await assert.rejects(new JobManagerClient(jm.url, { ca: cert.cert }).listJobs(), (err: unknown) => err instanceof ClusterServingError && err.code === 'CS_ERR_UNAUTHENTICATED');
      await assert.rejects(new JobManagerClient(jm.url.replace(/^https:/, 'http:'), { token, timeoutMs: 30_000 }).listJobs(), /if it serves https, use an https:\/\/ URL/);
      // The KServe fast path is served by the https server too: past the token check, an unknown model is 404.
      const dispatcher = new Agent({ connect: { ca: cert.cert } });
      try {
        assert.equal((await call(jm.url, 'POST', '/v2/models/none/infer', { body: tinyInfer(0), dispatcher })).status, 401);
        assert.equal((await call(jm.url, 'POST', '/v2/models/none/infer', { body: tinyInfer(0), dispatcher, authorization: `Bearer ${token}` })).status, 404);
        assert.equal((await call(jm.url, 'GET', '/v2/health/ready', { dispatcher })).status, 200);
      } finally {
        await dispatcher.close();
      }
      assert.equal((await rpc(grpcClient, 'ServerMetadata', {})).error?.code, grpc.status.UNAUTHENTICATED);
      const meta = await rpc<{ name: string }>(grpcClient, 'ServerMetadata', {}, `Bearer ${token}`);
      assert.ifError(meta.error);
      assert.equal(meta.reply!.name, 'cluster-serving');
    } finally {
      grpcClient.close();
      await jm.close();
    }
  });

  it('refuses a certificate without its key, or a key that does not match, before listening', async () => {
    const other = await selfSignedCertificate(dir, 'other');
    await assert.rejects(startJobManager(base({ host: '127.0.0.1', tlsCert: cert.certFile })), (err: unknown) => err instanceof ConfigError && /--tls-cert and --tls-key go together/.test(err.message));
    await assert.rejects(startJobManager(base({ host: '127.0.0.1', tlsCert: cert.certFile, tlsKey: other.keyFile })), (err: unknown) => err instanceof ConfigError && /not a usable PEM certificate and matching private key/.test(err.message));
  });
});
