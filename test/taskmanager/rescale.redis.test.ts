import { strict as assert } from 'node:assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Redis from 'ioredis';
import * as ort from 'onnxruntime-node';
import { InputQueue } from '../../src/client/input-queue';
import { JobManagerClient } from '../../src/cluster-api/jobmanager-client';
import { CONSUMER_GROUP } from '../../src/cluster-api/keys';
import { createLogger } from '../../src/logging/logger';
import { toTypedArray } from '../../src/tensor/tensor';
import type { JobManager } from '../../jobmanager/main';
import { startTestJobManager } from '../support/jobmanager';
import { TaskManager } from '../../taskmanager/main';
import { stopTestRedis, testRedisUrl } from '../support/redis';
import { testModels } from '../support/test-models';
import { uniqueName, waitFor } from '../support/wait-for';

const LOG_LEVEL = process.env.CS_TEST_LOG_LEVEL ?? 'silent';

function input(seed: number): Float32Array {
  return Float32Array.from({ length: 16 }, (_, i) => Math.sin(seed * 0.37 + i));
}

/** `XINFO CONSUMERS` names of a split's consumer group. */
async function consumersOf(redis: Redis, split: string): Promise<string[]> {
  const rows = (await redis.xinfo('CONSUMERS', split, CONSUMER_GROUP)) as unknown[][];
  return rows.map((row) => String(row[row.indexOf('name') + 1]));
}

describe('rescaling a job served by a real TaskManager (real Redis, real ONNX Runtime)', () => {
  let redisUrl: string;
  let jmCache: string;
  let tmCache: string;
  let jm: JobManager;
  let modelPath: string;
  let redis: Redis;

  before(async () => {
    redisUrl = await testRedisUrl();
    jmCache = await mkdtemp(join(tmpdir(), 'cs-rescale-jm-'));
    tmCache = await mkdtemp(join(tmpdir(), 'cs-rescale-tm-'));
    modelPath = (await testModels()).tiny;
    jm = await startTestJobManager({ redisUrl, cacheDir: jmCache, heartbeatTimeoutMs: 5000 });
    redis = new Redis(redisUrl);
  });

  after(async () => {
    redis?.disconnect();
    await jm?.close();
    await rm(jmCache, { recursive: true, force: true });
    await rm(tmCache, { recursive: true, force: true });
    await stopTestRedis();
  });

  it('goes 1 → 2 → 1 subtasks under load: new subtasks start, removed ones finish their work, no request is lost', async () => {
    const name = uniqueName('rescaled');
    const source = [
      `name: ${name}`,
      'source:',
      '  type: redis',
      '  partitions: 2',
      'batch:',
      '  maxSize: 4',
      '  maxDelayMs: 1',
      'model:',
      `  path: ${JSON.stringify(modelPath)}`,
      'parallelism: 1',
      '',
    ].join('\n');
    const tm = new TaskManager({
      jobmanagerUrl: jm.url,
      redisUrl,
      slots: 2,
      taskManagerId: uniqueName('tm'),
      cacheDir: tmCache,
      logger: createLogger('taskmanager', LOG_LEVEL),
      registrationBackoff: { initialMs: 20, maxMs: 200 },
    });
    await tm.start();
    const client = new JobManagerClient(jm.url);
    const { jobId } = await client.submitJob({ filename: `${name}.yaml`, source, baseDir: tmCache });
    const q = new InputQueue({ redis: redisUrl, stream: name, partitions: 2 });
    const session = await ort.InferenceSession.create(modelPath);
    const splits = [`${name}:0`, `${name}:1`];
    let answered = 0;
    const failures: string[] = [];
    let stop = false;

    /** One request, checked against onnxruntime-node run directly. */
    const check = async (seed: number): Promise<void> => {
      const x = input(seed);
      try {
        const outputs = await q.predict({ input: { data: x, shape: [1, 16] } }, { timeoutMs: 20_000 });
        const direct = (await session.run({ input: new ort.Tensor('float32', x, [1, 16]) })).output!.data as Float32Array;
        assert.deepEqual([...(toTypedArray(outputs.get('output')!) as Float32Array)], [...direct]);
        answered += 1;
      } catch (err) {
        failures.push(`request ${seed}: ${err instanceof Error ? err.message : String(err)}`);
      }
    };
    /** Waits until `n` more requests than now have been answered. */
    const moreAnswered = (n: number, what: string) => {
      const target = answered + n;
      return waitFor(() => answered >= target || failures.length > 0, { maxWaitMs: 30_000, what });
    };

    try {
      await waitFor(async () => (await client.jobStatus(jobId)).state === 'RUNNING', { what: 'job RUNNING' });
      await waitFor(() => q.predict({ input: { data: input(0), shape: [1, 16] } }, { timeoutMs: 2000 }).catch(() => undefined), { maxWaitMs: 20_000, what: 'first result' });

      let seed = 1;
      const load = (async () => {
        while (!stop) await Promise.all(Array.from({ length: 8 }, () => check(seed++)));
      })();

      await moreAnswered(20, 'results at parallelism 1');
      assert.equal(tm.runningSubtasks, 1);

      const two = await client.rescaleJob(jobId, 2);
      assert.deepEqual(
        two.subtasks.map((s) => [s.index, s.taskManagerId, s.splits]),
        [
          [0, tm.id, [splits[0]]],
          [1, tm.id, [splits[1]]],
        ],
      );
      await waitFor(async () => tm.runningSubtasks === 2 && (await consumersOf(redis, splits[1]!)).includes(`${tm.id}-${jobId}-1`), {
        maxWaitMs: 20_000,
        what: 'subtask 1 reading split 1',
      });
      await moreAnswered(40, 'results at parallelism 2');

      const one = await client.rescaleJob(jobId, 1);
      assert.deepEqual(
        one.subtasks.map((s) => [s.index, s.taskManagerId, s.splits]),
        [[0, tm.id, splits]],
      );
      await waitFor(() => tm.runningSubtasks === 1, { maxWaitMs: 20_000, what: 'subtask 1 stopped' });
      await moreAnswered(40, 'results at parallelism 1 again');

      stop = true;
      await load;
      assert.deepEqual(failures, [], 'every request got its correct result');
      for (const split of splits) {
        const [pending] = (await redis.xpending(split, CONSUMER_GROUP)) as [number, ...unknown[]];
        assert.equal(pending, 0, `nothing left unacknowledged on ${split}`);
      }
      assert.equal((await client.jobStatus(jobId)).state, 'RUNNING');
    } finally {
      stop = true;
      await client.cancelJob(jobId).catch(() => undefined);
      await q.close();
      await session.release();
      await tm.close();
    }
  });
});
