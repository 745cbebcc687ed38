import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Redis from 'ioredis';
import { SubtaskRunner } from '../../taskmanager/subtask-runner';
import type { JobManager } from '../../jobmanager/main';
import { startTestJobManager } from '../support/jobmanager';
import type { ErrorBody, JobCheckpoints, SplitCheckpoint } from '../../src/cluster-api/dto';
import { DEFAULT_CLUSTER, checkpointsKey } from '../../src/cluster-api/keys';
import { JobManagerClient } from '../../src/cluster-api/jobmanager-client';
import { formatJobStatus } from '../../src/cli/commands/job';
import { loadTopologySource } from '../../src/topology/load-topology';
import { InputQueue } from '../../src/client/input-queue';
import { createLogger } from '../../src/logging/logger';
import { ClusterServingError } from '../../src/errors';
import { stopTestRedis, testRedisUrl } from '../support/redis';
import { testModels } from '../support/test-models';
import { uniqueName, waitFor } from '../support/wait-for';

const logger = createLogger('test', process.env.CS_TEST_LOG_LEVEL ?? 'silent');

describe('checkpoints: recorded by the subtask, served by the JobManager', () => {
  let url: string;
  let redis: Redis;
  let cacheDir: string;
  let jm: JobManager;
  let models: Awaited<ReturnType<typeof testModels>>;

  before(async () => {
    url = await testRedisUrl();
    redis = new Redis(url);
    models = await testModels();
    cacheDir = await mkdtemp(join(tmpdir(), 'cs-checkpoints-'));
    jm = await startTestJobManager({ redisUrl: url, cacheDir, heartbeatTimeoutMs: 1000 });
  });
  after(async () => {
    await jm.close();
    redis.disconnect();
    await rm(cacheDir, { recursive: true, force: true });
    await stopTestRedis();
  });

  test('a SubtaskRunner records checkpoints up to the last written id; GET /jobs/:id/checkpoints and job status show them', async () => {
    const name = uniqueName('ckpt');
    const topology = {
      filename: `${name}.yaml`,
      source: [`name: ${name}`, 'source:', '  type: redis', 'model:', `  path: ${models.tiny}`, 'batch:', '  maxSize: 4', '  maxDelayMs: 2', ''].join('\n'),
      baseDir: dirname(models.tiny),
    };
    const client = new JobManagerClient(jm.url);
    const { jobId } = await client.submitJob(topology);
    // No TaskManager here: the test runs the job's subtask itself, as a slot would.
    const loaded = await loadTopologySource(topology, join(cacheDir, 'runner'));
    const runner = new SubtaskRunner({
      jobId,
      subtaskIndex: 0,
      topology: loaded.topology,
      splits: [name],
      redisUrl: url,
      consumerName: `tm-ckpt-${jobId}-0`,
      taskManagerId: 'tm-ckpt',
      logger,
      checkpointIntervalMs: 50,
    });
    const q = new InputQueue({ redis: url, stream: name });
    try {
      await runner.start();
      const input = { input: { data: new Float32Array(16).fill(0.5), shape: [1, 16] } };
      await Promise.all(Array.from({ length: 10 }, () => q.predict(input, { timeoutMs: 30_000 })));
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push(await q.enqueue(`late-${i}`, input));
      const last = ids[ids.length - 1]!;

      const recorded = await waitFor(
        async () => {
          const json = await redis.hget(checkpointsKey(DEFAULT_CLUSTER, jobId), name);
          const c = json ? (JSON.parse(json) as SplitCheckpoint) : undefined;
          return c?.offset === last ? c : undefined;
        },
        { what: `checkpoint ${last}` },
      );
      assert.equal(recorded.split, name);
      assert.equal(recorded.subtaskIndex, 0);
      assert.equal(recorded.taskManagerId, 'tm-ckpt');
      assert.ok(recorded.updatedAt > 0);

      const response = await fetch(`${jm.url}/jobs/${jobId}/checkpoints`);
      assert.equal(response.status, 200);
      const body = (await response.json()) as JobCheckpoints;
      assert.deepEqual(body, { jobId, splits: [recorded] });
      assert.deepEqual(await client.checkpoints(jobId), body);

      const status = await client.jobStatus(jobId);
      assert.deepEqual(status.splitProgress, [{ split: name, lag: 0, pending: 0, checkpoint: last }]);
      const shown = formatJobStatus(status);
      assert.match(shown, /SPLIT\s+SUBTASK\s+TASKMANAGER\s+LAG\s+PENDING\s+CHECKPOINT/);
      assert.ok(shown.split('\n').some((line) => line.startsWith(name) && line.trimEnd().endsWith(last)), shown);
    } finally {
      await q.close();
      await runner.close();
    }
  });

  test('the last checkpoint is recorded on close', async () => {
    const name = uniqueName('ckpt-close');
    const topology = {
      filename: `${name}.yaml`,
      source: [`name: ${name}`, 'source:', '  type: redis', 'model:', `  path: ${models.tiny}`, ''].join('\n'),
      baseDir: dirname(models.tiny),
    };
    const { jobId } = await new JobManagerClient(jm.url).submitJob(topology);
    const loaded = await loadTopologySource(topology, join(cacheDir, 'runner'));
    // A long interval: only close() can have written the last one.
    const runner = new SubtaskRunner({ jobId, subtaskIndex: 0, topology: loaded.topology, splits: [name], redisUrl: url, consumerName: `tm-${jobId}-0`, logger, checkpointIntervalMs: 60_000 });
    const q = new InputQueue({ redis: url, stream: name });
    let second = '';
    try {
      await runner.start();
      const input = { input: { data: new Float32Array(16), shape: [1, 16] } };
      await q.predict(input, { timeoutMs: 30_000 });
      second = await q.enqueue('second', input);
      await waitFor(() => runner.written === 2, { what: 'second result' });
    } finally {
      await q.close();
      await runner.close();
    }
    const { splits } = await new JobManagerClient(jm.url).checkpoints(jobId);
    assert.equal(splits.length, 1);
    assert.equal(splits[0]!.offset, second);
  });

  test('a split shared by two subtasks: the checkpoint is what the consumer group proves, held back by an entry pending on a dead reader', async () => {
    const name = uniqueName('ckpt-shared');
    const topology = {
      filename: `${name}.yaml`,
      source: [`name: ${name}`, 'source:', '  type: redis', 'model:', `  path: ${models.tiny}`, 'batch:', '  maxSize: 4', '  maxDelayMs: 1', ''].join('\n'),
      baseDir: dirname(models.tiny),
    };
    const client = new JobManagerClient(jm.url);
    const { jobId } = await client.submitJob(topology);
    const loaded = await loadTopologySource(topology, join(cacheDir, 'runner'));
    const input = { input: { data: new Float32Array(16).fill(0.25), shape: [1, 16] } };
    const q = new InputQueue({ redis: url, stream: name });
    // A reader that takes one entry and dies before writing its result (the runners' claim idle is ten minutes).
    await redis.xgroup('CREATE', name, 'serving', '$', 'MKSTREAM');
    const ghostId = await q.enqueue('ghost', input);
    await redis.xreadgroup('GROUP', 'serving', 'ghost-reader', 'COUNT', 1, 'STREAMS', name, '>');
    const runners = [0, 1].map(
      (i) => new SubtaskRunner({ jobId, subtaskIndex: i, topology: loaded.topology, splits: [name], redisUrl: url, consumerName: `tm-shared-${jobId}-${i}`, logger, checkpointIntervalMs: 20, claimMinIdleMs: 600_000 }),
    );
    try {
      await Promise.all(runners.map((r) => r.start()));
      await Promise.all(Array.from({ length: 40 }, () => q.predict(input, { timeoutMs: 30_000 })));
      assert.ok(runners.every((r) => r.written > 0), 'both subtasks served the shared split');
      const [ms, seq] = ghostId.split('-').map(BigInt) as [bigint, bigint];
      const beforeGhost = seq > 0n ? `${ms}-${seq - 1n}` : `${ms - 1n}-18446744073709551615`;
      await waitFor(async () => (await client.checkpoints(jobId)).splits.length === 1, { what: 'a recorded checkpoint' });
      assert.equal((await client.checkpoints(jobId)).splits[0]!.offset, beforeGhost, 'held just before the entry the dead reader never finished');

      await redis.xack(name, 'serving', ghostId);
      const last = await q.enqueue('last', input);
      await waitFor(() => runners[0]!.written + runners[1]!.written === 41, { what: 'the last result' });
      const { splits } = await client.checkpoints(jobId);
      assert.equal(splits[0]!.offset, last, 'nothing pending: every delivered entry is written');
      assert.deepEqual((await client.jobStatus(jobId)).splitProgress, [{ split: name, lag: 0, pending: 0, checkpoint: last }]);
    } finally {
      await q.close();
      await Promise.all(runners.map((r) => r.close()));
    }
  });

  test('GET /jobs/:id/checkpoints of an unknown job is 404 with the usual error body', async () => {
    const response = await fetch(`${jm.url}/jobs/no-such-job/checkpoints`);
    assert.equal(response.status, 404);
    const body = (await response.json()) as ErrorBody;
    assert.equal(body.code, 'CS_ERR_NOT_FOUND');
    assert.match(body.message, /no-such-job/);
    await assert.rejects(new JobManagerClient(jm.url).checkpoints('no-such-job'), (err) => err instanceof ClusterServingError && err.code === 'CS_ERR_NOT_FOUND');
  });
});
