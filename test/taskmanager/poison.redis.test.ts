import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Redis from 'ioredis';
import { SubtaskRunner } from '../../taskmanager/subtask-runner';
import { RedisResultSink } from '../../connectors/redis/redis-result-sink';
import { topologySchema, type TopologyInput } from '../../src/topology/schema';
import { InputQueue } from '../../src/client/input-queue';
import { OutputQueue } from '../../src/client/output-queue';
import { deadLetterKey } from '../../src/cluster-api/keys';
import { PoisonPolicy } from '../../src/retry/poison-policy';
import { createLogger } from '../../src/logging/logger';
import { tinyReference } from '../../src/models/tiny-mlp';
import { toTypedArray } from '../../src/tensor/tensor';
import { stopTestRedis, testRedisUrl } from '../support/redis';
import { testModels } from '../support/test-models';
import { uniqueName, waitFor } from '../support/wait-for';

const logger = createLogger('test', process.env.CS_TEST_LOG_LEVEL ?? 'silent');

function input(seed: number): Float32Array {
  return Float32Array.from({ length: 16 }, (_, i) => Math.sin(seed * 31 + i));
}

/** A stream entry's fields as a map of strings. */
function fieldsOf(flat: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) m.set(flat[i]!, flat[i + 1]!);
  return m;
}

describe('poison requests', () => {
  let url: string;
  let redis: Redis;
  let models: Awaited<ReturnType<typeof testModels>>;
  before(async () => {
    url = await testRedisUrl();
    redis = new Redis(url);
    models = await testModels();
  });
  after(async () => {
    redis.disconnect();
    await stopTestRedis();
  });

  test('the policy: more than maxDeliveries deliveries is poison, unknown counts are not', () => {
    const policy = new PoisonPolicy({ maxDeliveries: 3, deadLetterStream: 'x:dead-letter' });
    assert.equal(policy.check({ deliveries: 3 }), undefined);
    assert.equal(policy.check({}), undefined);
    const verdict = policy.check({ deliveries: 4 })!;
    assert.equal(verdict.error.code, 'CS_ERR_POISON');
    assert.match(verdict.error.message, /delivered 4 times .* parked in x:dead-letter/);
    assert.equal(new PoisonPolicy({ deadLetterStream: 'x' }).maxDeliveries, 3);
    const { source } = topologySchema.parse({ name: 'n', source: { type: 'redis' }, model: { path: 'm.onnx' } });
    assert.equal(source.type === 'redis' ? source.maxDeliveries : undefined, 3, 'source.maxDeliveries defaults to 3');
    assert.throws(() => new PoisonPolicy({ maxDeliveries: 0, deadLetterStream: 'x' }), /maxDeliveries/);
  });

  test('an entry delivered more than maxDeliveries times is parked with CS_ERR_POISON while its neighbours succeed', async () => {
    const name = uniqueName('poison');
    const q = new InputQueue({ redis: url, stream: name });
    const out = new OutputQueue({ redis: url, stream: name });
    let runner: SubtaskRunner | undefined;
    try {
      await redis.xgroup('CREATE', name, 'serving', '0', 'MKSTREAM');
      const poisonId = await q.enqueue('poison', { input: { data: input(99), shape: [1, 16] } });
      const sentFields = ((await redis.xrangeBuffer(name, poisonId, poisonId)) as [Buffer, Buffer[]][])[0]![1];
      // A reader that takes it and dies every time: read once, then claimed twice more (3 deliveries).
      const taken = (await redis.xreadgroup('GROUP', 'serving', 'ghost', 'COUNT', 1, 'STREAMS', name, '>')) as [string, [string, string[]][]][];
      assert.equal(taken[0]![1][0]![0], poisonId);
      for (let i = 0; i < 2; i++) await redis.xclaim(name, 'serving', 'ghost', 0, poisonId);
      const deliveries = ((await redis.xpending(name, 'serving', '-', '+', 10)) as [string, string, number, number][])[0]![3];
      assert.equal(deliveries, 3);
      for (let i = 0; i < 4; i++) await q.enqueue(`good-${i}`, { input: { data: input(i), shape: [1, 16] } });

      const spec: TopologyInput = { name, source: { type: 'redis', maxDeliveries: 3 }, model: { path: models.tiny }, batch: { maxSize: 4, maxDelayMs: 2 } };
      const parsed = topologySchema.parse(spec);
      runner = new SubtaskRunner({
        jobId: name,
        subtaskIndex: 0,
        topology: { spec: parsed, requestSteps: [], resultSteps: [] },
        splits: [name],
        redisUrl: url,
        consumerName: `${name}-tm-0`,
        logger,
        claimIntervalMs: 20,
        claimMinIdleMs: 50,
      });
      await runner.start();

      for (let i = 0; i < 4; i++) {
        const res = await waitFor(() => out.query(`good-${i}`), { what: `good-${i}` });
        assert.equal(res.error, undefined, res.error?.message);
        const got = toTypedArray(res.outputs.get('output')!) as Float32Array;
        tinyReference(input(i), 1).forEach((v, j) => assert.ok(Math.abs(v - got[j]!) < 1e-5));
      }
      const poisoned = await waitFor(() => out.query('poison'), { what: 'poison result' });
      assert.equal(poisoned.error?.code, 'CS_ERR_POISON');
      assert.match(poisoned.error!.message, /delivered 4 times/);
      assert.equal(poisoned.outputs.size, 0);

      const dead = (await redis.xrangeBuffer(deadLetterKey(name), '-', '+')) as [Buffer, Buffer[]][];
      assert.equal(dead.length, 1);
      const fields = fieldsOf(dead[0]![1].map((b) => b.toString('latin1')));
      assert.equal(fields.get('uri'), 'poison');
      assert.equal(fields.get('split'), name);
      assert.equal(fields.get('id'), poisonId);
      assert.equal(fields.get('deliveries'), '4');
      assert.match(fields.get('reason')!, /delivered 4 times/);
      // The original fields, byte for byte.
      assert.deepEqual(dead[0]![1].slice(0, sentFields.length), sentFields);

      // Everything acknowledged and trimmed; the poison entry counted once.
      await waitFor(async () => (await redis.xlen(name)) === 0, { what: 'stream trimmed' });
      assert.equal(((await redis.xpending(name, 'serving')) as [number])[0], 0);
      assert.equal(runner.parked, 1);
    } finally {
      await runner?.close();
      await q.close();
      await out.close();
    }
  });

  test('parkPoisonAndAck is atomic and idempotent per entry', async () => {
    const name = uniqueName('park');
    const sink = new RedisResultSink({ url, stream: name, resultTtlMs: 60_000, replyMaxLen: 100 });
    const out = new OutputQueue({ redis: url, stream: name });
    try {
      await sink.start();
      await redis.xgroup('CREATE', name, 'serving', '0', 'MKSTREAM');
      const id = (await redis.xadd(name, '*', 'uri', 'p', 'data', 'bytes', 'extra', 'x'))!;
      await redis.xreadgroup('GROUP', 'serving', 'c', 'COUNT', 10, 'STREAMS', name, '>');
      const verdict = new PoisonPolicy({ deadLetterStream: deadLetterKey(name) }).check({ deliveries: 5 })!;
      const entry = { split: name, entryId: id, uri: 'p', data: Buffer.from('bytes'), extra: new Map([['extra', Buffer.from('x')]]), deliveries: 5 };
      const reply = `${name}:reply:test`;
      assert.equal(await sink.park([{ entry, uri: 'p', replyTo: reply, verdict }]), 1);
      assert.equal(await sink.park([{ entry, uri: 'p', replyTo: reply, verdict }]), 0, 'a second park only acknowledges');
      const dead = await redis.xrange(deadLetterKey(name), '-', '+');
      assert.equal(dead.length, 1);
      assert.deepEqual([...fieldsOf(dead[0]![1])], [['uri', 'p'], ['data', 'bytes'], ['extra', 'x'], ['split', name], ['id', id], ['deliveries', '5'], ['reason', verdict.reason]]);
      assert.equal((await out.query('p'))?.error?.code, 'CS_ERR_POISON');
      assert.equal(await redis.xlen(reply), 1);
      assert.equal(await redis.xlen(name), 0);
      assert.equal(((await redis.xpending(name, 'serving')) as [number])[0], 0);
    } finally {
      await sink.close();
      await out.close();
    }
  });
});
