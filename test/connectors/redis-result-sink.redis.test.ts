import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Redis from 'ioredis';
import { RedisResultSink } from '../../connectors/redis/redis-result-sink';
import { CONSUMER_GROUP, fencesKey, resultKey } from '../../src/cluster-api/keys';
import { decodeResult } from '../../src/protocol/native/native-codec';
import type { InferenceResult } from '../../src/tensor/records';
import { tensorFrom } from '../../src/tensor/tensor';
import { ClusterServingError } from '../../src/errors';
import { stopTestRedis, testRedisUrl } from '../support/redis';
import { uniqueName } from '../support/wait-for';

/** Adds `n` entries to `stream` and reads them through the group as `consumer`: they are pending. */
async function pendingEntries(redis: Redis, stream: string, n: number, consumer = 'c'): Promise<string[]> {
  await redis.xgroup('CREATE', stream, CONSUMER_GROUP, '0', 'MKSTREAM');
  for (let i = 0; i < n; i++) await redis.xadd(stream, '*', 'uri', `u${i}`, 'data', 'x');
  const reply = (await redis.xreadgroup('GROUP', CONSUMER_GROUP, consumer, 'COUNT', n, 'STREAMS', stream, '>')) as [string, [string, string[]][]][];
  return reply[0]![1].map(([id]) => id);
}

function result(stream: string, entryId: string, uri: string, replyTo: string | undefined): InferenceResult {
  return { kind: 'result', uri, ref: { split: stream, entryId }, replyTo, receivedAt: 0, outputs: new Map([['y', tensorFrom(Float32Array.of(1, 2), [1, 2])]]), error: undefined };
}

async function pendingCount(redis: Redis, stream: string): Promise<number> {
  return Number(((await redis.xpending(stream, CONSUMER_GROUP)) as [number])[0]);
}

describe('RedisResultSink: fencing, the done record and per-entry key isolation', () => {
  let url: string;
  let redis: Redis;
  before(async () => {
    url = await testRedisUrl();
    redis = new Redis(url);
  });
  after(async () => {
    redis.disconnect();
    await stopTestRedis();
  });

  test('a write with an epoch older than the fence hash holds writes nothing and acknowledges nothing; the current epoch writes', async () => {
    const stream = uniqueName('fenced');
    const jobId = uniqueName('job');
    const ids = await pendingEntries(redis, stream, 2);
    await redis.hset(fencesKey(jobId), '3', '2');
    const reply = `${stream}:reply:r1`;
    const stale = new RedisResultSink({ url, stream, resultTtlMs: 60_000, replyMaxLen: 1000, fence: { jobId, subtaskIndex: 3, epoch: 1 } });
    const current = new RedisResultSink({ url, stream, resultTtlMs: 60_000, replyMaxLen: 1000, fence: { jobId, subtaskIndex: 3, epoch: 2 } });
    await Promise.all([stale.start(), current.start()]);
    try {
      const results = ids.map((id, i) => result(stream, id, `u${i}`, reply));
      await assert.rejects(stale.write(results), (err: unknown) => err instanceof ClusterServingError && err.code === 'CS_ERR_FENCED' && /stop this subtask/.test(err.message));
      assert.equal(await pendingCount(redis, stream), 2, 'nothing acknowledged');
      assert.equal(await redis.exists(resultKey(stream, 'u0'), resultKey(stream, 'u1'), reply), 0, 'nothing written');
      await assert.rejects(stale.park([{ entry: { split: stream, entryId: ids[0]!, uri: 'u0', data: Buffer.from('x') }, uri: 'u0', replyTo: undefined, verdict: { deliveries: 9, reason: 'test', error: { code: 'CS_ERR_POISON', message: 'test' } } }]), (err: unknown) => err instanceof ClusterServingError && err.code === 'CS_ERR_FENCED');
      assert.equal(await redis.exists(`${stream}:dead-letter`), 0, 'a fenced park writes no dead letter');
      await current.write(results);
      assert.equal(await pendingCount(redis, stream), 0);
      assert.equal(await redis.xlen(reply), 2);
    } finally {
      await Promise.all([stale.close(), current.close()]);
    }
  });

  test('a late duplicate of an entry whose result the client already read and deleted is not written again', async () => {
    const stream = uniqueName('done');
    const [id] = await pendingEntries(redis, stream, 1);
    const reply = `${stream}:reply:r1`;
    const sink = new RedisResultSink({ url, stream, resultTtlMs: 60_000, replyMaxLen: 1000 });
    await sink.start();
    try {
      await sink.write([result(stream, id!, 'u0', reply)]);
      // The client reads the reply and deletes the stored copy, as InputQueue does.
      assert.equal(decodeResult((await redis.hgetBuffer(resultKey(stream, 'u0'), 'value'))!).uri, 'u0');
      await redis.del(resultKey(stream, 'u0'));
      // A reader that read the entry before it was acknowledged (paused, then resumed) writes it again.
      await sink.write([result(stream, id!, 'u0', reply)]);
      assert.equal(await redis.xlen(reply), 1, 'one reply only');
      assert.equal(await redis.exists(resultKey(stream, 'u0')), 0, 'the deleted result is not written back');
      assert.deepEqual((await redis.keys(`${stream}*`)).sort(), [stream, reply].sort(), 'no record per request is kept for it');
    } finally {
      await sink.close();
    }
  });

  test('a reply key or result key of the wrong type fails only its own entry; the others of the same call are written', async () => {
    const stream = uniqueName('isolate');
    const ids = await pendingEntries(redis, stream, 4);
    const good = `${stream}:reply:good`;
    const wrongReply = `${stream}:reply:is-a-string`;
    await redis.set(wrongReply, 'not a stream');
    await redis.set(resultKey(stream, 'u3'), 'not a hash');
    const conflicts: string[] = [];
    const sink = new RedisResultSink({ url, stream, resultTtlMs: 60_000, replyMaxLen: 1000, onKeyConflict: (uris) => conflicts.push(...uris) });
    await sink.start();
    try {
      await sink.write([result(stream, ids[0]!, 'u0', good), result(stream, ids[1]!, 'u1', wrongReply), result(stream, ids[2]!, 'u2', good), result(stream, ids[3]!, 'u3', good)]);
      assert.deepEqual(conflicts, ['u1', 'u3']);
      const replied = ((await redis.xrange(good, '-', '+')) as [string, string[]][]).map(([, f]) => f[1]);
      assert.deepEqual(replied, ['u0', 'u2', 'u3'], 'the other entries got their replies');
      assert.equal(await redis.get(wrongReply), 'not a stream', 'the foreign key is left as it was');
      assert.equal(await redis.pttl(wrongReply), -1, 'and gets no TTL');
      assert.equal(decodeResult((await redis.hgetBuffer(resultKey(stream, 'u1'), 'value'))!).uri, 'u1', 'its result is stored at its result key');
      assert.equal(await redis.get(resultKey(stream, 'u3')), 'not a hash');
      assert.equal(await pendingCount(redis, stream), 0, 'every entry acknowledged');
    } finally {
      await sink.close();
    }
  });

  test('an entry the consumer group lost (recreated) but still in the stream is written; so is one whose stream is gone', async () => {
    const stream = uniqueName('regroup');
    const [id] = await pendingEntries(redis, stream, 1);
    await redis.xgroup('DESTROY', stream, CONSUMER_GROUP);
    await redis.xgroup('CREATE', stream, CONSUMER_GROUP, '$');
    const sink = new RedisResultSink({ url, stream, resultTtlMs: 60_000, replyMaxLen: 1000 });
    await sink.start();
    try {
      await sink.write([result(stream, id!, 'u0', undefined)]);
      assert.equal(decodeResult((await redis.hgetBuffer(resultKey(stream, 'u0'), 'value'))!).uri, 'u0');
      assert.equal(await redis.xlen(stream), 0, 'and deleted from the stream');
      const gone = uniqueName('gone');
      await sink.write([result(gone, '1-1', 'u9', undefined)]);
      assert.ok(await redis.exists(resultKey(stream, 'u9')), 'written although its split stream is gone: nothing tells it was done');
    } finally {
      await sink.close();
    }
  });
});
