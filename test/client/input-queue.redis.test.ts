import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Redis from 'ioredis';
import { InputQueue } from '../../src/client/input-queue';
import { decodeRequest } from '../../src/protocol/native/native-codec';
import { toTypedArray } from '../../src/tensor/tensor';
import { stopTestRedis, testRedisUrl } from '../support/redis';
import { uniqueName } from '../support/wait-for';

describe('InputQueue writes (real Redis)', () => {
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

  /** The tensor of an entry's request, decoded from what Redis holds. */
  async function storedInput(stream: string, id: string): Promise<Float32Array> {
    const [[, fields]] = (await redis.xrangeBuffer(stream, id, id)) as [Buffer, Buffer[]][] as [[Buffer, Buffer[]]];
    const data = fields[fields.findIndex((f) => f.toString() === 'data') + 1]!;
    return toTypedArray(decodeRequest(data).inputs.get('input')!) as Float32Array;
  }

  test('enqueue writes the exact request bytes, large or small, request after request', async () => {
    const stream = uniqueName('iq-bytes');
    const q = new InputQueue({ redis: url, stream });
    try {
      for (const n of [16, 150_000]) {
        for (let k = 0; k < 3; k++) {
          const x = Float32Array.from({ length: n }, (_, i) => Math.sin(i + k * 7 + n));
          const id = await q.enqueue(`u-${n}-${k}`, { input: { data: x, shape: [1, n] } });
          assert.match(id, /^\d+-\d+$/);
          assert.deepEqual(await storedInput(stream, id), x, `${n} floats, request ${k}`);
        }
      }
    } finally {
      await q.close();
      await redis.del(stream);
    }
  });

  test('a write connection killed by the server is replaced: later requests still arrive', async () => {
    const stream = uniqueName('iq-reconnect');
    const q = new InputQueue({ redis: url, stream });
    try {
      const x = Float32Array.from({ length: 20_000 }, (_, i) => i);
      await q.enqueue('before', { input: { data: x, shape: [1, 20_000] } });
      const clients = String(await redis.call('CLIENT', 'LIST'));
      const ids = clients.split('\n').filter((l) => l.includes(`name=cs-client-${stream} `)).map((l) => /id=(\d+)/.exec(l)![1]!);
      assert.equal(ids.length, 1, 'one write connection, named after the stream');
      await redis.call('CLIENT', 'KILL', 'ID', ids[0]!);
      const id = await q.enqueue('after', { input: { data: x, shape: [1, 20_000] } });
      assert.deepEqual(await storedInput(stream, id), x);
      assert.equal(await redis.xlen(stream), 2);
    } finally {
      await q.close();
      await redis.del(stream);
    }
  });
});
