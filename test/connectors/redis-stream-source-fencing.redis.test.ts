import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Redis from 'ioredis';
import { RedisStreamSource } from '../../connectors/redis/redis-stream-source';
import { fencesKey } from '../../src/cluster-api/keys';
import type { SourceEntry } from '../../src/connector/source';
import { ClusterServingError } from '../../src/errors';
import { stopTestRedis, testRedisUrl } from '../support/redis';
import { uniqueName, waitFor } from '../support/wait-for';

describe('RedisStreamSource: fenced readers and taking over a lost holder', () => {
  let url: string;
  let redis: Redis;
  const sources: RedisStreamSource[] = [];
  before(async () => {
    url = await testRedisUrl();
    redis = new Redis(url);
  });
  after(async () => {
    await Promise.all(sources.map((s) => s.close()));
    redis.disconnect();
    await stopTestRedis();
  });

  async function started(s: RedisStreamSource): Promise<RedisStreamSource> {
    sources.push(s);
    await s.start();
    return s;
  }

  async function add(split: string, n: number): Promise<void> {
    for (let i = 0; i < n; i++) await redis.xadd(split, '*', 'uri', `u${i}`, 'data', `d${i}`);
  }

  async function pendingBy(split: string): Promise<Map<string, number>> {
    const [, , , consumers] = (await redis.xpending(split, 'serving')) as [number, string, string, [string, string][] | null];
    return new Map((consumers ?? []).map(([c, n]) => [c, Number(n)]));
  }

  test("the new holder takes over the lost holder's pending entries at once, and no one else's", async () => {
    const split = uniqueName('takeover');
    const jobId = uniqueName('job');
    await redis.xgroup('CREATE', split, 'serving', '0', 'MKSTREAM');
    await add(split, 6);
    // The lost holder of subtask 0 read 4 entries; a live reader of subtask 1 (sharing the split) read 2.
    await redis.xreadgroup('GROUP', 'serving', `tm-lost-${jobId}-0`, 'COUNT', 4, 'STREAMS', split, '>');
    await redis.xreadgroup('GROUP', 'serving', `tm-live-${jobId}-1`, 'COUNT', 2, 'STREAMS', split, '>');
    const me = `tm-new-${jobId}-0`;
    // A min-idle far longer than the test: only the take-over can claim anything.
    const s = await started(new RedisStreamSource({ url, splits: [split], consumer: me, claimIntervalMs: 60_000, claimMinIdleMs: 600_000, fence: { jobId, subtaskIndex: 0, epoch: 2 }, takeOver: (c) => c.endsWith(`-${jobId}-0`) && c !== me }));
    const got: SourceEntry[] = [];
    await waitFor(async () => {
      got.push(...(await s.read(100, 10)));
      return got.length >= 4;
    }, { maxWaitMs: 10_000, what: 'the lost holder\'s entries' });
    assert.equal(got.length, 4);
    assert.ok(got.every((e) => e.deliveries === 2), 'a claim counts as one more delivery');
    const pending = await pendingBy(split);
    assert.equal(pending.get(me), 4);
    assert.equal(pending.get(`tm-live-${jobId}-1`), 2, 'the live reader keeps its entries');
    assert.equal(pending.get(`tm-lost-${jobId}-0`), undefined);
  });

  test('a reader whose epoch was superseded claims nothing: its read fails with CS_ERR_FENCED', async () => {
    const split = uniqueName('stale');
    const jobId = uniqueName('job');
    await redis.xgroup('CREATE', split, 'serving', '0', 'MKSTREAM');
    await add(split, 3);
    await redis.xreadgroup('GROUP', 'serving', 'someone', 'COUNT', 3, 'STREAMS', split, '>');
    await redis.hset(fencesKey(jobId), '0', '5');
    const s = await started(new RedisStreamSource({ url, splits: [split], consumer: 'stale-reader', claimIntervalMs: 0, claimMinIdleMs: 0, fence: { jobId, subtaskIndex: 0, epoch: 4 } }));
    // The first read drains the (empty) own backlog; the next one starts with a claim round.
    assert.deepEqual(await s.read(100, 10), []);
    await assert.rejects(s.read(100, 10), (err: unknown) => err instanceof ClusterServingError && err.code === 'CS_ERR_FENCED' && /stop this subtask/.test(err.message));
    assert.equal((await pendingBy(split)).get('stale-reader'), undefined, 'nothing claimed');
    // The current epoch reads on.
    await redis.hset(fencesKey(jobId), '0', '4');
    assert.equal((await s.read(100, 10)).length, 3);
  });
});

