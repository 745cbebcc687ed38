import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Redis from 'ioredis';
import type { JobManager } from '../../jobmanager/main';
import { TaskManager } from '../../taskmanager/main';
import { InputQueue } from '../../src/client/input-queue';
import { JobManagerClient } from '../../src/cluster-api/jobmanager-client';
import type { JobStatus } from '../../src/cluster-api/dto';
import { formatJobStatus } from '../../src/cli/commands/job';
import { createLogger } from '../../src/logging/logger';
import { tinyReference } from '../../src/models/tiny-mlp';
import { toTypedArray } from '../../src/tensor/tensor';
import { startTestJobManager } from '../support/jobmanager';
import { stopTestRedis, testRedisUrl } from '../support/redis';
import { testModels } from '../support/test-models';
import { uniqueName, waitFor } from '../support/wait-for';

const logger = createLogger('test', process.env.CS_TEST_LOG_LEVEL ?? 'silent');

function input(seed: number): Float32Array {
  return Float32Array.from({ length: 16 }, (_, i) => Math.sin(seed * 13 + i));
}

/** Does one predict and checks its answer against the model computed directly. */
async function served(q: InputQueue, seed: number): Promise<void> {
  const outputs = await q.predict({ input: { data: input(seed), shape: [1, 16] } }, { timeoutMs: 60_000 });
  const got = toTypedArray(outputs.get('output')!) as Float32Array;
  tinyReference(input(seed), 1).forEach((v, j) => assert.ok(Math.abs(v - got[j]!) < 1e-5, `request ${seed} answered correctly`));
}

describe('lost Redis state heals: a missing stream or consumer group is recreated and reported', () => {
  let url: string;
  let redis: Redis;
  let cacheDir: string;
  let jm: JobManager;
  let tm: TaskManager;
  let client: JobManagerClient;
  let models: Awaited<ReturnType<typeof testModels>>;

  before(async () => {
    url = await testRedisUrl();
    redis = new Redis(url);
    models = await testModels();
    cacheDir = await mkdtemp(join(tmpdir(), 'cs-lost-state-'));
    jm = await startTestJobManager({ redisUrl: url, cacheDir: join(cacheDir, 'jm') });
    client = new JobManagerClient(jm.url);
    tm = new TaskManager({ jobmanagerUrl: jm.url, redisUrl: url, slots: 2, taskManagerId: uniqueName('tm'), cacheDir: join(cacheDir, 'tm'), logger });
    await tm.start();
  });
  after(async () => {
    await tm.close();
    await jm.close();
    redis.disconnect();
    await rm(cacheDir, { recursive: true, force: true });
    await stopTestRedis();
  });

  async function submit(name: string): Promise<string> {
    const source = [`name: ${name}`, 'source:', '  type: redis', 'model:', `  path: ${models.tiny}`, 'batch:', '  maxDelayMs: 1', ''].join('\n');
    const { jobId } = await client.submitJob({ filename: `${name}.yaml`, source, baseDir: dirname(models.tiny) });
    await waitFor(async () => (await client.jobStatus(jobId)).state === 'RUNNING', { maxWaitMs: 30_000, what: `job ${name} RUNNING` });
    return jobId;
  }

  test('a deleted stream: the group is created again, the job status reports it, new requests are served', async () => {
    const name = uniqueName('lost');
    const jobId = await submit(name);
    const q = new InputQueue({ redis: url, stream: name });
    try {
      await served(q, 0);
      const before = await client.jobStatus(jobId);
      assert.equal(before.eventCounts?.group_recreated ?? 0, 0);
      assert.deepEqual(before.events, []);

      assert.equal(await redis.del(name), 1);
      const status = await waitFor(
        async () => {
          const s = await client.jobStatus(jobId);
          return (s.eventCounts?.group_recreated ?? 0) >= 1 ? s : undefined;
        },
        { maxWaitMs: 30_000, what: 'the recreated group reported in job status' },
      );
      const event = status.events?.find((e) => e.kind === 'group_recreated');
      assert.ok(event, JSON.stringify(status.events));
      assert.equal(event.split, name);
      assert.equal(event.subtaskIndex, 0);
      assert.equal(event.taskManagerId, tm.id);
      assert.ok(event.at > 0);
      assert.match(event.message, /missing.*created again/);
      assert.equal(status.state, 'RUNNING');
      assert.match(formatJobStatus(status), /consumer groups recreated: 1[\s\S]*event \S+ group_recreated/);

      const groups = (await redis.xinfo('GROUPS', name)) as unknown[][];
      assert.ok(groups.some((g) => g.includes('serving')), 'the consumer group exists again');
      // Requests sent after the loss are served.
      for (let i = 1; i <= 5; i++) await served(q, i);
    } finally {
      await q.close();
      await client.cancelJob(jobId);
    }
  });

  test('a stream that expired (a TTL set on it) heals the same way', async () => {
    const name = uniqueName('expired');
    const jobId = await submit(name);
    const q = new InputQueue({ redis: url, stream: name });
    try {
      await served(q, 40);
      assert.equal(await redis.pexpire(name, 1), 1);
      await waitFor(async () => ((await client.jobStatus(jobId)).eventCounts?.group_recreated ?? 0) >= 1, { maxWaitMs: 30_000, what: 'the recreated group reported' });
      for (let i = 41; i <= 43; i++) await served(q, i);
      assert.equal(await redis.pttl(name), -1, 'the recreated stream has no TTL');
    } finally {
      await q.close();
      await client.cancelJob(jobId);
    }
  });

  test('while the stream key cannot hold a group the job shows DEGRADED, never RUNNING; once it can, the job heals', async () => {
    const name = uniqueName('degraded');
    const jobId = await submit(name);
    const q = new InputQueue({ redis: url, stream: name });
    try {
      await served(q, 10);
      // The key now holds a string: neither reads nor XGROUP CREATE can work on it.
      await redis.multi().del(name).set(name, 'not a stream').exec();
      const degraded: JobStatus = await waitFor(
        async () => {
          const s = await client.jobStatus(jobId);
          return s.state === 'DEGRADED' ? s : undefined;
        },
        { maxWaitMs: 30_000, what: 'job DEGRADED' },
      );
      assert.match(degraded.degraded ?? '', /subtask 0 on \S+ cannot read: .*WRONGTYPE/);
      assert.match(formatJobStatus(degraded), /DEGRADED[\s\S]*degraded: subtask 0/);
      assert.equal((await client.listJobs()).jobs.find((j) => j.id === jobId)?.state, 'DEGRADED', 'the job list shows it too');

      await redis.del(name);
      await waitFor(async () => (await client.jobStatus(jobId)).state === 'RUNNING', { maxWaitMs: 30_000, what: 'job RUNNING again' });
      await served(q, 11);
      const healed = await client.jobStatus(jobId);
      assert.ok((healed.eventCounts?.group_recreated ?? 0) >= 1, 'the recreation is reported');
      assert.equal(healed.degraded, undefined);
    } finally {
      await q.close();
      await client.cancelJob(jobId);
    }
  });

  test('a subtask that cannot even start on its split (the key holds another type) shows its job DEGRADED until it can', async () => {
    const name = uniqueName('cannot-start');
    await redis.set(name, 'not a stream');
    const source = [`name: ${name}`, 'source:', '  type: redis', 'model:', `  path: ${models.tiny}`, 'batch:', '  maxDelayMs: 1', ''].join('\n');
    const { jobId } = await client.submitJob({ filename: `${name}.yaml`, source, baseDir: dirname(models.tiny) });
    const q = new InputQueue({ redis: url, stream: name });
    try {
      const degraded = await waitFor(
        async () => {
          const s = await client.jobStatus(jobId);
          return s.state === 'DEGRADED' ? s : undefined;
        },
        { maxWaitMs: 30_000, what: 'job DEGRADED while its subtask cannot start' },
      );
      assert.match(degraded.degraded ?? '', /subtask 0 on \S+ cannot read: cannot start: .*WRONGTYPE/);
      await redis.del(name);
      await waitFor(async () => (await client.jobStatus(jobId)).state === 'RUNNING', { maxWaitMs: 30_000, what: 'job RUNNING once the key is gone' });
      await served(q, 30);
    } finally {
      await q.close();
      await client.cancelJob(jobId);
    }
  });

  test('job status counts the dead-letter stream', async () => {
    const name = uniqueName('dlq-count');
    const jobId = await submit(name);
    const q = new InputQueue({ redis: url, stream: name });
    try {
      await served(q, 20);
      assert.deepEqual((await client.jobStatus(jobId)).deadLetter, { stream: `${name}:dead-letter`, entries: 0 });
      await redis.xadd(name, '*', 'uri', 'no-data');
      await redis.xadd(name, '*', 'data', 'x');
      await waitFor(async () => (await client.jobStatus(jobId)).deadLetter?.entries === 2, { maxWaitMs: 30_000, what: 'two dead letters counted' });
      assert.match(formatJobStatus(await client.jobStatus(jobId)), new RegExp(`dead letters: 2 in ${name}:dead-letter`));
    } finally {
      await q.close();
      await client.cancelJob(jobId);
    }
  });
});
