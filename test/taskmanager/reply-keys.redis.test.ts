import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import Redis from 'ioredis';
import { deadLetterKey, resultKey } from '../../src/cluster-api/keys';
import { decodeResult, encodeRequest, type NativeResult } from '../../src/protocol/native/native-codec';
import { tensorFrom } from '../../src/tensor/tensor';
import { stopTestRedis, testRedisUrl } from '../support/redis';
import { testModels } from '../support/test-models';
import { startSubtask } from '../support/subtask';
import { uniqueName, waitFor } from '../support/wait-for';

let url: string;
let models: Awaited<ReturnType<typeof testModels>>;
before(async () => {
  url = await testRedisUrl();
  models = await testModels();
});
after(stopTestRedis);

test('a hostile reply key fails only its own request: the others of the same batch are answered, and no job key gets a TTL or a write', async () => {
  const name = uniqueName('replykeys');
  const redis = new Redis(url);
  const good = `${name}:reply:good`;
  const stringKey = `${name}:reply:a-string`;
  await redis.set(stringKey, 'keep me');
  // Reply keys a client may not choose: the job's own stream, another request's result, the dead-letter
  // stream, a control-plane job key, and a reply-looking key with a suffix outside the namespace.
  const hostile = new Map<string, string>([
    ['h-stream', name],
    ['h-result', resultKey(name, 'someone-else')],
    ['h-dead', deadLetterKey(name)],
    ['h-jobs', `cs:job:${name}`],
    ['h-suffix', `${name}:reply:x:y`],
  ]);
  const input = new Map([['input', tensorFrom(Float32Array.from({ length: 16 }, (_, k) => k / 16), [1, 16])]]);
  const uris: string[] = [];
  // Good requests interleaved with hostile ones, all written before the subtask starts: one batch.
  for (let i = 0; i < 6; i++) {
    uris.push(`g${i}`);
    await redis.xadd(name, '*', 'uri', `g${i}`, 'data', encodeRequest(input, good));
    const h = [...hostile][i];
    if (h) await redis.xadd(name, '*', 'uri', h[0], 'data', encodeRequest(input, h[1]));
  }
  await redis.xadd(name, '*', 'uri', 'wrong-type', 'data', encodeRequest(input, stringKey));
  const runner = await startSubtask(url, { name, source: { type: 'redis' }, model: { path: models.tiny }, batch: { maxSize: 32, maxDelayMs: 5 } });
  try {
    const replies = new Map<string, NativeResult>();
    await waitFor(
      async () => {
        for (const [, fields] of (await redis.xrangeBuffer(good, '-', '+')) as [Buffer, Buffer[]][]) {
          const r = decodeResult(fields[3]!);
          replies.set(r.uri, r);
        }
        return replies.size === uris.length && runner.written === uris.length + hostile.size + 1;
      },
      { maxWaitMs: 30_000, what: 'every request written' },
    );
    for (const u of uris) assert.equal(replies.get(u)?.error, undefined, `${u} answered`);
    for (const uri of hostile.keys()) {
      const stored = await redis.hgetBuffer(resultKey(name, uri), 'value');
      assert.ok(stored, `${uri} has an error result at its default result key`);
      const r = decodeResult(stored);
      assert.equal(r.error?.code, 'CS_ERR_BAD_REQUEST', uri);
      assert.match(r.error?.message ?? '', /not a reply stream of this job/);
    }
    // The wrong-type key inside the namespace: its result is stored, the key is left alone.
    assert.equal(decodeResult((await redis.hgetBuffer(resultKey(name, 'wrong-type'), 'value'))!).error, undefined);
    assert.equal(await redis.get(stringKey), 'keep me');
    assert.equal(await redis.pttl(stringKey), -1);
    // No job key was touched: the stream keeps no TTL, and nothing was written where hostile keys pointed.
    assert.equal(await redis.pttl(name), -1, 'the job stream has no TTL');
    assert.equal(await redis.exists(resultKey(name, 'someone-else'), deadLetterKey(name), `cs:job:${name}`, `${name}:reply:x:y`), 0);
    assert.equal((await redis.xinfo('GROUPS', name) as unknown[]).length, 1, 'the consumer group is still there');
  } finally {
    await runner.close();
    redis.disconnect();
  }
});
