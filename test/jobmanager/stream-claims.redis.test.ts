import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Redis from 'ioredis';
import { StreamClaims } from '../../jobmanager/state/stream-claims';
import { startJobManager, type JobManager } from '../../jobmanager/main';
import type { ErrorBody } from '../../src/cluster-api/dto';
import { STREAM_CLAIMS_KEY, jobManagerAliveKey } from '../../src/cluster-api/keys';
import { createLogger } from '../../src/logging/logger';
import { TEST_MODEL_DIRS, restCall } from '../support/jobmanager';
import { stopTestRedis, testRedisUrl } from '../support/redis';
import { testModels } from '../support/test-models';
import { uniqueName } from '../support/wait-for';

describe('stream claims: a data stream belongs to one cluster at a time', () => {
  let url: string;
  let redis: Redis;
  let dir: string;
  let models: Awaited<ReturnType<typeof testModels>>;
  before(async () => {
    url = await testRedisUrl();
    redis = new Redis(url);
    dir = await mkdtemp(join(tmpdir(), 'cs-claims-'));
    models = await testModels();
  });
  after(async () => {
    redis.disconnect();
    await rm(dir, { recursive: true, force: true });
    await stopTestRedis();
  });

  test('claims, refuses while the owner is alive, takes over a lapsed claim, releases only its own', async () => {
    const [blue, green] = [uniqueName('blue'), uniqueName('green')].map((c) => c.slice(0, 32));
    const stream = uniqueName('claimed');
    const a = new StreamClaims(redis, blue!, 60_000);
    const b = new StreamClaims(redis, green!, 60_000);
    await a.heartbeat();
    await b.heartbeat();
    assert.equal(await a.claim([stream]), undefined);
    assert.equal(await a.claim([stream]), undefined, 'claiming again is fine');
    assert.deepEqual(await b.claim([stream]), { stream, cluster: blue });
    await b.release([stream]);
    assert.equal(await a.owner(stream), blue, 'another cluster cannot release it');

    // blue's JobManager is gone (its liveness key expired): green takes the stream over.
    await redis.del(jobManagerAliveKey(blue!));
    assert.equal(await b.claim([stream]), undefined);
    assert.equal(await b.owner(stream), green);
    await b.release([stream]);
    assert.equal(await redis.hexists(STREAM_CLAIMS_KEY, stream), 0);
  });

  test('POST /jobs answers 409 for a stream another live cluster reads, and accepts it once released', async () => {
    const logger = createLogger('jobmanager', process.env.CS_TEST_LOG_LEVEL ?? 'silent');
    const start = (cluster: string): Promise<JobManager> =>
      startJobManager({ redisUrl: url, host: '127.0.0.1', port: 0, cacheDir: join(dir, cluster), heartbeatIntervalMs: 100, heartbeatTimeoutMs: 2000, cluster, modelDirs: TEST_MODEL_DIRS, logger });
    const jmA = await start('claims-a');
    const jmB = await start('claims-b');
    try {
      const stream = uniqueName('shared');
      const topology = (name: string) => ({ filename: `${name}.yaml`, source: [`name: ${name}`, 'source:', '  type: redis', `  stream: ${stream}`, 'model:', `  path: ${models.tiny}`, ''].join('\n'), baseDir: dirname(models.tiny) });
      const first = await restCall<{ jobId: string }>(jmA.url, 'POST', '/jobs', { topology: topology(uniqueName('first')) });
      assert.equal(first.status, 200);
      // The same cluster may run several jobs on its stream.
      assert.equal((await restCall(jmA.url, 'POST', '/jobs', { topology: topology(uniqueName('again')) })).status, 200);
      const refused = await restCall<ErrorBody>(jmB.url, 'POST', '/jobs', { topology: topology(uniqueName('second')) });
      assert.equal(refused.status, 409);
      assert.equal(refused.body.code, 'CS_ERR_BAD_REQUEST');
      assert.match(refused.body.message, new RegExp(`stream "${stream}" is read by cluster "claims-a"`));
      assert.equal((await restCall<{ jobs: unknown[] }>(jmB.url, 'GET', '/jobs')).body.jobs.length, 0, 'nothing was created');

      // Cancel both of cluster A's jobs: the claim goes with the last one.
      for (const { id } of (await restCall<{ jobs: { id: string }[] }>(jmA.url, 'GET', '/jobs')).body.jobs) await restCall(jmA.url, 'DELETE', `/jobs/${id}`);
      assert.equal(await redis.hget(STREAM_CLAIMS_KEY, stream), null);
      assert.equal((await restCall(jmB.url, 'POST', '/jobs', { topology: topology(uniqueName('third')) })).status, 200);
      assert.equal(await redis.hget(STREAM_CLAIMS_KEY, stream), 'claims-b');
    } finally {
      await jmA.close();
      await jmB.close();
    }
  });
});
