import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import * as ort from 'onnxruntime-node';
import { InputQueue } from '../../src/client/input-queue';
import type { ErrorBody } from '../../src/cluster-api/dto';
import { JobManagerClient } from '../../src/cluster-api/jobmanager-client';
import { modelCachePath } from '../../src/cluster-api/model-files';
import { toTypedArray } from '../../src/tensor/tensor';
import type { JobManager } from '../../jobmanager/main';
import { startTestJobManager } from '../support/jobmanager';
import { TaskManager } from '../../taskmanager/main';
import { stopTestRedis, testRedisUrl } from '../support/redis';
import { testModels } from '../support/test-models';
import { uniqueName, waitFor } from '../support/wait-for';

/** A logger that keeps every line's `msg`, to count what the TaskManager did. */
function recordingLogger(): { logger: pino.Logger; messages: string[] } {
  const messages: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void messages.push((JSON.parse(line) as { msg: string }).msg) });
  return { logger, messages };
}

function input(seed: number): Float32Array {
  return Float32Array.from({ length: 16 }, (_, i) => Math.cos(seed * 0.91 + i));
}

async function bytesOf(body: ReadableStream<Uint8Array>): Promise<Buffer> {
  return Buffer.from(await new Response(body).arrayBuffer());
}

describe('model shipping: the JobManager keeps the model, a TaskManager that cannot read it downloads it (real Redis, real ONNX Runtime)', () => {
  let redisUrl: string;
  let root: string;
  let jm: JobManager;
  let reference: string;

  const newJobManager = (port = 0): Promise<JobManager> =>
    startTestJobManager({ redisUrl, port, cacheDir: join(root, 'jm'), heartbeatTimeoutMs: 5000 });

  before(async () => {
    redisUrl = await testRedisUrl();
    root = await mkdtemp(join(tmpdir(), 'cs-model-shipping-'));
    reference = (await testModels()).tiny;
    jm = await newJobManager();
  });

  after(async () => {
    await jm?.close();
    await rm(root, { recursive: true, force: true });
    await stopTestRedis();
  });

  it('serves correct results from a model deleted after submit, downloaded once and cached by hash', async () => {
    const name = uniqueName('shipped');
    // The model lives next to the topology, as a user would have it; it is gone before any TaskManager starts.
    const userDir = join(root, 'user');
    await mkdir(userDir, { recursive: true });
    await copyFile(reference, join(userDir, 'model.onnx'));
    const modelBytes = await readFile(reference);
    const sha256 = createHash('sha256').update(modelBytes).digest('hex');
    const source = [`name: ${name}`, 'source:', '  type: redis', '  partitions: 2', 'model:', '  path: model.onnx', 'parallelism: 2', ''].join('\n');
    const client = new JobManagerClient(jm.url);
    const { jobId } = await client.submitJob({ filename: `${name}.yaml`, source, baseDir: userDir });
    await rm(join(userDir, 'model.onnx'));

    assert.deepEqual(await bytesOf(await client.jobModel(jobId)), modelBytes, 'GET /jobs/:id/model streams the submitted bytes');
    assert.deepEqual(await readFile(modelCachePath(join(root, 'jm'), sha256)), modelBytes, 'the JobManager keeps it by hash');

    const { logger, messages } = recordingLogger();
    const tmCache = join(root, 'tm');
    const tm = new TaskManager({ jobmanagerUrl: jm.url, redisUrl, slots: 2, taskManagerId: uniqueName('tm'), cacheDir: tmCache, logger, registrationBackoff: { initialMs: 20, maxMs: 200 } });
    const q = new InputQueue({ redis: redisUrl, stream: name, partitions: 2 });
    const session = await ort.InferenceSession.create(reference);
    try {
      await tm.start();
      await waitFor(async () => (await client.jobStatus(jobId)).state === 'RUNNING', { what: 'job RUNNING' });
      await waitFor(() => q.predict({ input: { data: input(0), shape: [1, 16] } }, { timeoutMs: 2000 }).catch(() => undefined), { maxWaitMs: 20_000, what: 'first result' });
      await waitFor(() => messages.filter((m) => m === 'taskmanager.slot.assigned').length === 2, { what: 'both subtasks started' });

      const seeds = Array.from({ length: 40 }, (_, i) => i + 1);
      const outputs = await Promise.all(seeds.map((s) => q.predict({ input: { data: input(s), shape: [1, 16] } }, { timeoutMs: 10_000 })));
      for (const [i, s] of seeds.entries()) {
        const direct = (await session.run({ input: new ort.Tensor('float32', input(s), [1, 16]) })).output!.data as Float32Array;
        assert.deepEqual([...(toTypedArray(outputs[i]!.get('output')!) as Float32Array)], [...direct]);
      }

      const cached = modelCachePath(tmCache, sha256);
      assert.deepEqual(await readFile(cached), modelBytes, 'cached by hash in the TaskManager cache dir');
      assert.equal(messages.filter((m) => m === 'taskmanager.model.downloaded').length, 1, 'two subtasks, one download');
      assert.equal(messages.filter((m) => m === 'taskmanager.slot.failed').length, 0);

      // A restarted JobManager still serves it: the hash is kept with the job in Redis.
      const port = Number(new URL(jm.url).port);
      await jm.close();
      jm = await newJobManager(port);
      assert.deepEqual(await bytesOf(await new JobManagerClient(jm.url).jobModel(jobId)), modelBytes);

      // A rescale starts a subtask from the cache, without downloading again.
      const inode = (await stat(cached)).ino;
      await client.rescaleJob(jobId, 1);
      await waitFor(() => tm.runningSubtasks === 1 && messages.filter((m) => m === 'taskmanager.slot.assigned').length === 3, { maxWaitMs: 20_000, what: 'subtask 0 restarted' });
      const after = await q.predict({ input: { data: input(99), shape: [1, 16] } }, { timeoutMs: 10_000 });
      const direct = (await session.run({ input: new ort.Tensor('float32', input(99), [1, 16]) })).output!.data as Float32Array;
      assert.deepEqual([...(toTypedArray(after.get('output')!) as Float32Array)], [...direct]);
      assert.equal(messages.filter((m) => m === 'taskmanager.model.downloaded').length, 1);
      assert.equal((await stat(cached)).ino, inode);
    } finally {
      await client.cancelJob(jobId).catch(() => undefined);
      await q.close();
      await session.release();
      await tm.close();
    }
  });

  it('refuses at submit a job whose model path lies in a model directory but is not there; GET /jobs/:id/model of an unknown job is 404', async () => {
    const name = uniqueName('unshipped');
    const source = [`name: ${name}`, 'source:', '  type: redis', 'model:', `  path: ${join(root, 'nowhere', 'model.onnx')}`, ''].join('\n');
    await assert.rejects(new JobManagerClient(jm.url).submitJob({ filename: `${name}.yaml`, source, baseDir: root }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'CS_ERR_TOPOLOGY');
      assert.match(err.message, /nowhere\/model\.onnx: no such file/);
      return true;
    });
    assert.equal((await new JobManagerClient(jm.url).listJobs()).jobs.filter((j) => j.name === name).length, 0);
    const res = await fetch(`${jm.url}/jobs/${'0'.repeat(32)}/model`);
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as ErrorBody).code, 'CS_ERR_NOT_FOUND');
  });
});
