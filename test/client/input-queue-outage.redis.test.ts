import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createConnection } from 'node:net';
import { Redis } from 'ioredis';
import { InputQueue } from '../../src/client/input-queue';
import { OutputQueue } from '../../src/client/output-queue';
import { ClusterServingError } from '../../src/errors';
import { PersistentRedis } from '../support/persistent-redis';
import { uniqueName, waitFor } from '../support/wait-for';
import { tinyInput } from '../e2e/e2e-helpers';

/** The first line Redis answers PING with, or the connection error's code. */
function ping(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    const done = (text: string): void => {
      socket.destroy();
      resolve(text);
    };
    socket.setTimeout(5000, () => done('no answer'));
    socket.on('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d) => done(d.toString().split('\r\n')[0]!));
  });
}

describe('the TypeScript client waits for Redis up to each request\'s deadline', () => {
  let redis: PersistentRedis;

  before(async () => {
    redis = await PersistentRedis.start();
  });

  after(async () => {
    await redis?.stop();
  });

  it('requests sent while Redis refuses connections are written once it is back', async () => {
    const stream = uniqueName('refused');
    const q = new InputQueue({ redis: redis.url, stream });
    try {
      assert.match(await q.enqueue('before', tinyInput(0)), /^\d+-\d+$/);
      await redis.kill();
      assert.match(await ping(redis.port), /ECONNREFUSED/);
      const during = [q.enqueue('during-1', tinyInput(1), { timeoutMs: 120_000 }), q.enqueue('during-2', tinyInput(2), { timeoutMs: 120_000 })];
      // Both keep trying while Redis is down: neither has settled (failed) when it comes back.
      let settled = 0;
      for (const p of during) p.then(() => settled++, () => settled++);
      assert.match(await ping(redis.port), /ECONNREFUSED/);
      assert.equal(settled, 0);
      await redis.restart();
      const ids = await Promise.all(during);
      for (const id of ids) assert.match(id, /^\d+-\d+$/);
      const check = new Redis(redis.url);
      try {
        assert.equal(await check.xlen(stream), 3);
      } finally {
        check.disconnect();
      }
    } finally {
      await q.close();
    }
  });

  it('a request sent while Redis answers LOADING is written once it has loaded; OutputQueue waits too', async () => {
    const admin = new Redis(redis.url);
    try {
      // Enough keys that a slowed-down load (--key-load-delay, µs per key) takes a while.
      for (let i = 0; i < 20_000; i += 1000) {
        const tx = admin.pipeline();
        for (let k = i; k < i + 1000; k++) tx.set(`filler:${k}`, 'x');
        await tx.exec();
      }
    } finally {
      admin.disconnect();
    }
    await redis.kill();
    await redis.restart({ extraArgs: ['--key-load-delay', '500'], until: 'loading' });
    const stream = uniqueName('loading');
    const q = new InputQueue({ redis: redis.url, stream });
    const out = new OutputQueue({ redis: redis.url, stream, timeoutMs: 120_000 });
    try {
      const sentWhile = await ping(redis.port);
      const id = q.enqueue('while-loading', tinyInput(3), { timeoutMs: 120_000 });
      const queried = out.query('while-loading');
      assert.match(await id, /^\d+-\d+$/);
      assert.equal(await queried, undefined);
      assert.match(sentWhile, /^-LOADING/, 'the requests went to a Redis still loading');
      await waitFor(async () => (await ping(redis.port)) === '+PONG', { maxWaitMs: 120_000, what: 'Redis loaded' });
    } finally {
      await q.close();
      await out.close();
    }
  });

  it('a request whose deadline passes while Redis is down fails with CS_ERR_CONNECTOR or CS_ERR_TIMEOUT, not with an unhandled error', async () => {
    const q = new InputQueue({ redis: redis.url, stream: uniqueName('deadline') });
    try {
      await redis.kill();
      await assert.rejects(q.enqueue('late', tinyInput(4), { timeoutMs: 300 }), (err: unknown) => err instanceof ClusterServingError && ['CS_ERR_CONNECTOR', 'CS_ERR_TIMEOUT'].includes(err.code));
      await assert.rejects(q.predict(tinyInput(5), { timeoutMs: 300 }), (err: unknown) => err instanceof ClusterServingError && ['CS_ERR_CONNECTOR', 'CS_ERR_TIMEOUT'].includes(err.code));
    } finally {
      await q.close();
      await redis.restart();
    }
  });
});
