import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Redis from 'ioredis';
import { RedisStreamSource, type RedisStreamSourceOptions } from '../../connectors/redis/redis-stream-source';
import type { SourceEntry } from '../../src/connector/source';
import { ConnectorError } from '../../src/errors';
import { stopTestRedis, testRedisUrl } from '../support/redis';
import { uniqueName, waitFor } from '../support/wait-for';

const CLAIM_MIN_IDLE_MS = 100;

describe('RedisStreamSource: reclaiming entries of readers that stopped', () => {
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

  async function source(split: string, consumer: string, options: Partial<RedisStreamSourceOptions> = {}): Promise<RedisStreamSource> {
    const s = new RedisStreamSource({ url, splits: [split], consumer, claimIntervalMs: 10, claimMinIdleMs: CLAIM_MIN_IDLE_MS, ...options });
    sources.push(s);
    await s.start();
    return s;
  }

  async function add(split: string, n: number): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) ids.push((await redis.xadd(split, '*', 'uri', `u${i}`, 'data', `d${i}`, 'trace', `t${i}`))!);
    return ids;
  }

  /** Every pending entry of the split: id → [consumer, deliveries]. */
  async function pendingOf(split: string): Promise<Map<string, [string, number]>> {
    const rows = (await redis.xpending(split, 'serving', '-', '+', 1000)) as [string, string, number, number][];
    return new Map(rows.map(([id, consumer, , n]) => [id, [consumer, n]]));
  }

  /** Reads with `credits` until `n` entries came back, checking that no read returns more than its credits. */
  async function readAll(s: RedisStreamSource, n: number, credits: number): Promise<SourceEntry[]> {
    const got: SourceEntry[] = [];
    // Recorded, then asserted outside waitFor: an assertion inside it would only be retried.
    const overCredit: number[] = [];
    await waitFor(
      async () => {
        const batch = await s.read(credits, 20);
        if (batch.length > credits) overCredit.push(batch.length);
        got.push(...batch);
        return got.length >= n || overCredit.length > 0;
      },
      { what: `${n} entries` },
    );
    assert.deepEqual(overCredit, [], `reads with ${credits} credits returned more entries`);
    return got;
  }

  test('a dead reader’s entries are claimed by another, with deliveries = 2, within its credits', async () => {
    const split = uniqueName('reclaim');
    const dead = await source(split, 'dead');
    const ids = await add(split, 5);
    const first = await dead.read(10, 100);
    assert.deepEqual(first.map((e) => e.entryId), ids);
    assert.ok(first.every((e) => e.deliveries === 1));
    await dead.close(); // dies: never acknowledges

    const alive = await source(split, 'alive');
    const claimed = await readAll(alive, 5, 2);
    assert.deepEqual(claimed.map((e) => e.entryId).sort(), [...ids].sort());
    for (const e of claimed) {
      assert.equal(e.deliveries, 2, e.entryId);
      assert.equal(e.split, split);
      assert.equal(e.uri, `u${ids.indexOf(e.entryId)}`);
      assert.equal(Buffer.from(e.data).toString(), `d${ids.indexOf(e.entryId)}`);
      assert.equal(Buffer.from(e.extra!.get('trace')!).toString(), `t${ids.indexOf(e.entryId)}`);
    }
    const pending = await pendingOf(split);
    assert.deepEqual([...pending.values()].map(([c, n]) => `${c}:${n}`), ids.map(() => 'alive:2'));
    // New entries still flow once the claimed ones are out.
    const [next] = await add(split, 1);
    const fresh = await readAll(alive, 1, 10);
    assert.deepEqual(fresh.map((e) => [e.entryId, e.deliveries]), [[next, 1]]);
  });

  test('entries deleted while pending are acknowledged and dropped, not returned', async () => {
    const split = uniqueName('deleted');
    const dead = await source(split, 'dead');
    const ids = await add(split, 3);
    assert.equal((await dead.read(10, 100)).length, 3);
    await dead.close();
    await redis.xdel(split, ids[1]!);

    const alive = await source(split, 'alive');
    const claimed = await readAll(alive, 2, 10);
    assert.deepEqual(claimed.map((e) => e.entryId), [ids[0], ids[2]]);
    const pending = await pendingOf(split);
    assert.deepEqual([...pending.keys()], [ids[0], ids[2]]);
  });

  test('a restarted reader re-reads its own entries first, counting the delivery', async () => {
    const split = uniqueName('restart');
    const before = await source(split, 'same');
    const ids = await add(split, 3);
    assert.equal((await before.read(10, 100)).length, 3);
    await before.close();
    const after = await source(split, 'same');
    const again = await after.read(10, 100);
    assert.deepEqual(again.map((e) => [e.entryId, e.deliveries]), ids.map((id) => [id, 2]));
  });

  test('own entries are claimed back only when the reader no longer processes them', async () => {
    const split = uniqueName('own');
    const inFlight = new Set<string>();
    const reader = await source(split, 'me', { ownInFlight: (_split, id) => inFlight.has(id) });
    const ids = await add(split, 2);
    for (const e of await reader.read(10, 100)) inFlight.add(e.entryId);
    assert.equal(inFlight.size, 2);
    await waitFor(async () => {
      const rows = (await redis.xpending(split, 'serving', 'IDLE', CLAIM_MIN_IDLE_MS * 2, '-', '+', 10)) as unknown[];
      return rows.length === 2;
    }, { what: 'entries idle' });
    assert.deepEqual(await reader.read(10, 20), [], 'entries still in flight are left alone');
    inFlight.delete(ids[0]!); // e.g. its sink write failed
    const back = await readAll(reader, 1, 10);
    assert.deepEqual(back.map((e) => [e.entryId, e.deliveries]), [[ids[0], 2]]);
  });

  test('two readers claiming at once never both get an entry', async () => {
    const split = uniqueName('race');
    const dead = await source(split, 'dead');
    const ids = await add(split, 40);
    assert.equal((await dead.read(100, 100)).length, 40);
    await dead.close();
    // Long enough that neither takes the other's claims back during the test.
    const minIdle = 1000;
    await waitFor(async () => ((await redis.xpending(split, 'serving', 'IDLE', minIdle, '-', '+', 100)) as unknown[]).length === 40, { what: 'entries idle' });
    const a = await source(split, 'a', { claimMinIdleMs: minIdle });
    const b = await source(split, 'b', { claimMinIdleMs: minIdle });
    const got: SourceEntry[] = [];
    await waitFor(async () => {
      const [x, y] = await Promise.all([a.read(7, 20), b.read(7, 20)]);
      got.push(...x, ...y);
      return got.length >= 40;
    }, { what: 'all claimed' });
    assert.equal(got.length, 40);
    assert.deepEqual(new Set(got.map((e) => e.entryId)), new Set(ids));
    assert.ok(got.every((e) => e.deliveries === 2));
  });
});

describe('RedisStreamSource: payloads read into recycled buffers', () => {
  let url: string;
  let redis: Redis;
  let source: RedisStreamSource | undefined;

  before(async () => {
    url = await testRedisUrl();
    redis = new Redis(url);
  });
  after(async () => {
    await source?.close();
    redis.disconnect();
    await stopTestRedis();
  });

  test('a recycled entry’s buffer carries a later entry of its size; entries not recycled keep their bytes', async () => {
    const split = uniqueName('recycle');
    source = new RedisStreamSource({ url, splits: [split], consumer: 'c1' });
    await source.start();
    const payload = (seed: number): Buffer => Buffer.from(Uint8Array.from({ length: 100_000 }, (_, i) => (i * seed) & 0xff));
    const readOne = async (): Promise<SourceEntry> => {
      let got: SourceEntry[] = [];
      await waitFor(async () => (got = await source!.read(1, 50)).length === 1, { what: 'an entry' });
      return got[0]!;
    };
    await redis.xadd(split, '*', 'uri', 'a', 'data', payload(3));
    await redis.xadd(split, '*', 'uri', 'b', 'data', payload(5));
    const a = await readOne();
    const b = await readOne();
    assert.ok(Buffer.from(a.data).equals(payload(3)));
    assert.notEqual(a.data.buffer, b.data.buffer, 'both in flight: separate buffers');
    source.recycle({ split: a.split, entryId: a.entryId });
    source.recycle({ split: a.split, entryId: a.entryId }); // twice: no effect
    await redis.xadd(split, '*', 'uri', 'c', 'data', payload(7));
    await redis.xadd(split, '*', 'uri', 'd', 'data', payload(9));
    const c = await readOne();
    const d = await readOne();
    assert.equal(c.data.buffer, a.data.buffer, 'c reuses a’s buffer');
    assert.notEqual(d.data.buffer, a.data.buffer, 'a’s buffer is handed out once');
    assert.ok(Buffer.from(c.data).equals(payload(7)));
    assert.ok(Buffer.from(d.data).equals(payload(9)));
    assert.ok(Buffer.from(b.data).equals(payload(5)), 'b, never recycled, is untouched');
    assert.equal(c.uri, 'c');
  });

  test('a read connection killed by the server fails that read; the next read opens a new one and nothing is lost', async () => {
    const split = uniqueName('read-killed');
    const consumer = uniqueName('c-killed');
    const s = new RedisStreamSource({ url, splits: [split], consumer });
    await s.start();
    try {
      await redis.xadd(split, '*', 'uri', 'first', 'data', 'x');
      assert.deepEqual((await s.read(10, 50)).map((e) => e.uri), ['first']);
      // Settled into a value at once: it rejects while the test is still awaiting the kill.
      const blocked = s.read(10, 5000).then(
        () => undefined,
        (err: unknown) => err,
      );
      let ids: string[] = [];
      await waitFor(async () => {
        const clients = String(await redis.call('CLIENT', 'LIST'));
        ids = clients.split('\n').filter((l) => l.includes(`name=cs-source-read-${consumer} `)).map((l) => /id=(\d+)/.exec(l)![1]!);
        return ids.length === 1;
      }, { what: 'the source read connection' });
      await redis.call('CLIENT', 'KILL', 'ID', ids[0]!);
      const err = await blocked;
      assert.ok(err instanceof ConnectorError, `the blocked read failed: ${String(err)}`);
      assert.match(err.message, /reading read-killed-.* failed: Redis connection failed/);
      await redis.xadd(split, '*', 'uri', 'second', 'data', 'y');
      let got: SourceEntry[] = [];
      await waitFor(async () => (got = await s.read(10, 50)).length > 0, { what: 'the entry after the kill' });
      assert.deepEqual(got.map((e) => e.uri), ['second']);
    } finally {
      await s.close();
    }
  });
});
