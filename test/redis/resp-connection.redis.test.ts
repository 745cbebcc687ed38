import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import Redis from 'ioredis';
import { RespConnection } from '../../src/redis/resp-connection';
import { RespError } from '../../src/redis/resp-parser';
import { ConnectorError } from '../../src/errors';
import { stopTestRedis, testRedisUrl } from '../support/redis';
import { uniqueName } from '../support/wait-for';

describe('RespConnection (real Redis)', () => {
  let url: string;
  let redis: Redis;
  const user = uniqueName('cs-resp-user');
  const password = 'p@ss:w/rd';

  before(async () => {
    url = await testRedisUrl();
    redis = new Redis(url);
    await redis.call('ACL', 'SETUSER', user, 'on', `>${password}`, '~*', '&*', '+@all');
  });
  after(async () => {
    await redis.call('ACL', 'DELUSER', user);
    redis.disconnect();
    await stopTestRedis();
  });

  /** The test Redis URL with credentials and a database number. */
  function urlWith(credentials: string, db: number): string {
    const u = new URL(url);
    return `redis://${credentials}@${u.host}/${db}`;
  }

  test('authenticates with user and password from the URL, selects the database, names itself, reads bulk strings into its allocator', async () => {
    const key = uniqueName('resp-db3');
    const payload = Buffer.from(Uint8Array.from({ length: 300_000 }, (_, i) => (i * 31) & 0xff));
    const db3 = new Redis(url, { db: 3 });
    await db3.set(key, payload);
    const asked: number[] = [];
    const conn = await RespConnection.open(urlWith(`${encodeURIComponent(user)}:${encodeURIComponent(password)}`, 3), {
      name: 'cs-resp-test',
      allocate: (n) => {
        asked.push(n);
        return Buffer.alloc(n);
      },
    });
    try {
      const got = await conn.call(['GET', key]);
      assert.ok(Buffer.isBuffer(got));
      assert.ok(got.equals(payload), 'the value from database 3, byte for byte');
      assert.ok(asked.includes(payload.length));
      assert.equal(String(await conn.call(['CLIENT', 'GETNAME'])), 'cs-resp-test');
      assert.equal(String(await conn.call(['ACL', 'WHOAMI'])), user);
    } finally {
      conn.close();
      await db3.del(key);
      db3.disconnect();
    }
  });

  test('pipelined calls resolve in order; an error reply rejects that call alone', async () => {
    const conn = await RespConnection.open(url);
    try {
      const key = uniqueName('resp-order');
      const calls = [conn.call(['SET', key, 'v']), conn.call(['HGET', key, 'f']), conn.call(['GET', key]), conn.call(['INCR', uniqueName('n')])];
      const [set, wrongType, get, incr] = (await Promise.allSettled(calls)) as [PromiseSettledResult<unknown>, PromiseSettledResult<unknown>, PromiseSettledResult<unknown>, PromiseSettledResult<unknown>];
      assert.deepEqual(set, { status: 'fulfilled', value: 'OK' });
      assert.equal(wrongType.status, 'rejected');
      assert.ok(wrongType.status === 'rejected' && wrongType.reason instanceof RespError && /WRONGTYPE/.test(wrongType.reason.message));
      assert.equal(get.status === 'fulfilled' && String(get.value), 'v');
      assert.deepEqual(incr, { status: 'fulfilled', value: 1 });
      assert.ok(conn.usable);
    } finally {
      conn.close();
    }
  });

  test('string and byte arguments arrive exactly: UTF-8 text, bytes with CR LF inside, large values; commands of one tick share a write', async () => {
    const conn = await RespConnection.open(url);
    try {
      const key = uniqueName('resp-args-é');
      const small = Buffer.from([0, 13, 10, 255, 36, 42]);
      const large = Buffer.from(Uint8Array.from({ length: 100_000 }, (_, i) => (i * 7) & 0xff));
      const [a, b, c, d] = await Promise.all([
        conn.call(['HSET', key, 'naïve ✓', 'välue', 'small', small, 'large', large, 'n', 42]),
        conn.call(['HGET', key, 'naïve ✓']),
        conn.call(['HGET', key, 'small']),
        conn.call(['HGET', key, 'large']),
      ]);
      assert.equal(a, 4);
      assert.equal(String(b), 'välue');
      assert.deepEqual([...(c as Buffer)], [...small]);
      assert.ok((d as Buffer).equals(large));
      assert.equal(String(await redis.hget(key, 'n')), '42');
      await redis.del(key);
    } finally {
      conn.close();
    }
  });

  test('close() rejects a blocked call and leaves the connection unusable', async () => {
    const conn = await RespConnection.open(url);
    const blocked = conn.call(['XREAD', 'BLOCK', 0, 'STREAMS', uniqueName('resp-never'), '$']);
    conn.close();
    await assert.rejects(blocked, ConnectorError);
    assert.equal(conn.usable, false);
    await assert.rejects(conn.call(['PING']), ConnectorError);
  });

  test('a wrong password, a refused connection and a server that sends garbage are ConnectorErrors', async () => {
    await assert.rejects(RespConnection.open(urlWith(`${user}:wrong`, 0)), (err: unknown) => err instanceof ConnectorError && /cannot set up the Redis connection: WRONGPASS/.test(err.message));
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    await assert.rejects(RespConnection.open(`redis://127.0.0.1:${port}`), (err: unknown) => err instanceof ConnectorError && /cannot connect to Redis at 127\.0\.0\.1:\d+/.test(err.message));

    const garbage = createServer((socket) => socket.on('data', () => socket.write('?nonsense\r\n')));
    await new Promise<void>((r) => garbage.listen(0, '127.0.0.1', r));
    try {
      const conn = await RespConnection.open(`redis://127.0.0.1:${(garbage.address() as AddressInfo).port}`);
      await assert.rejects(conn.call(['PING']), (err: unknown) => err instanceof ConnectorError && /not a RESP2 reply/.test(err.message));
      assert.equal(conn.usable, false);
    } finally {
      garbage.close();
    }
  });

  test('supportsUrl: plain redis:// only', () => {
    assert.equal(RespConnection.supportsUrl('redis://127.0.0.1:6379'), true);
    assert.equal(RespConnection.supportsUrl('rediss://127.0.0.1:6380'), false);
    assert.equal(RespConnection.supportsUrl('not a url'), false);
  });
});
