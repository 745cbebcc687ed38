import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Redis from 'ioredis';
import { InputQueue } from '../../src/client/input-queue';
import { OutputQueue } from '../../src/client/output-queue';
import { deadLetterKey } from '../../src/cluster-api/keys';
import { unusableEntryReason } from '../../src/connector/unusable-entry';
import { encodeRequest } from '../../src/protocol/native/native-codec';
import { tinyReference } from '../../src/models/tiny-mlp';
import { toTypedArray, type Tensor } from '../../src/tensor/tensor';
import type { SubtaskRunner } from '../../taskmanager/subtask-runner';
import { stopTestRedis, testRedisUrl } from '../support/redis';
import { startSubtask } from '../support/subtask';
import { testModels } from '../support/test-models';
import { uniqueName, waitFor } from '../support/wait-for';

function input(seed: number): Float32Array {
  return Float32Array.from({ length: 16 }, (_, i) => Math.cos(seed * 7 + i));
}

/** A stream entry's fields as a map of strings. */
function fieldsOf(flat: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) m.set(flat[i]!, flat[i + 1]!);
  return m;
}

/** A stream entry's fields as a map of raw bytes. */
function fieldsOfBuffers(flat: Buffer[]): Map<string, Buffer> {
  const m = new Map<string, Buffer>();
  for (let i = 0; i + 1 < flat.length; i += 2) m.set(flat[i]!.toString(), flat[i + 1]!);
  return m;
}

describe('unusable stream entries go to the dead-letter stream (nothing vanishes)', () => {
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

  test('the reason names what is wrong, per protocol', () => {
    const data = Buffer.from([1, 2, 3]);
    const entry = (uri: string, bytes: Buffer, extra?: Map<string, Uint8Array>) => ({ split: 's', entryId: '1-0', uri, data: bytes, ...(extra ? { extra } : {}) });
    assert.equal(unusableEntryReason(entry('u', data), 'native'), undefined);
    assert.equal(unusableEntryReason(entry('', data), 'native'), 'no uri field');
    assert.equal(unusableEntryReason(entry('u', Buffer.alloc(0)), 'native'), 'no data field');
    assert.match(unusableEntryReason(entry('u', data, new Map([['Data', data]])), 'native')!, /^unknown field "Data"/);
    assert.equal(unusableEntryReason(entry('u', data, new Map([['serde', data]])), 'bigdl'), undefined);
    assert.match(unusableEntryReason(entry('', Buffer.alloc(0), new Map([['a', data], ['b', data]])), 'native')!, /^no uri field; no data field; unknown fields "a", "b"/);
  });

  test('entries with no uri, no data, unknown fields or an undecodable payload are parked with a reason and acknowledged; good entries between them are answered', async () => {
    const name = uniqueName('unusable');
    const q = new InputQueue({ redis: url, stream: name });
    const out = new OutputQueue({ redis: url, stream: name });
    let runner: SubtaskRunner | undefined;
    try {
      runner = await startSubtask(url, { name, source: { type: 'redis' }, model: { path: models.tiny }, batch: { maxSize: 4, maxDelayMs: 1 } });
      const payload = encodeRequest(new Map<string, Tensor>([['input', { dtype: 'float32', shape: [1, 16], data: new Uint8Array(input(9).buffer) }]]));
      const bad: { fields: (string | Buffer)[]; reason: RegExp }[] = [
        { fields: ['data', payload], reason: /^unusable entry: no uri field$/ },
        { fields: ['uri', 'extra-field', 'data', payload, 'priority', 'high'], reason: /^unusable entry: unknown field "priority"/ },
        { fields: ['uri', 'renamed', 'Data', payload], reason: /^unusable entry: no data field; unknown field "Data"/ },
        { fields: ['something', 'else'], reason: /^unusable entry: no uri field; no data field; unknown field "something"/ },
        { fields: ['uri', 'garbage', 'data', Buffer.from([0x01, 0xff, 0xff, 0xff, 0xff, 0x0f])], reason: /^undecodable: / },
      ];
      // Good requests interleaved with the bad entries, all in flight at once.
      const answers: Promise<Map<string, Tensor>>[] = [];
      const badIds: string[] = [];
      for (let i = 0; i < bad.length; i++) {
        answers.push(q.predict({ input: { data: input(i), shape: [1, 16] } }, { timeoutMs: 60_000 }));
        badIds.push((await redis.xadd(name, '*', ...bad[i]!.fields))!);
      }
      answers.push(q.predict({ input: { data: input(bad.length), shape: [1, 16] } }, { timeoutMs: 60_000 }));
      const results = await Promise.all(answers);
      results.forEach((outputs, i) => {
        const got = toTypedArray(outputs.get('output')!) as Float32Array;
        tinyReference(input(i), 1).forEach((v, j) => assert.ok(Math.abs(v - got[j]!) < 1e-5, `good request ${i} answered correctly`));
      });

      const dead = await waitFor(
        async () => {
          const rows = await redis.xrange(deadLetterKey(name), '-', '+');
          return rows.length >= bad.length ? rows : undefined;
        },
        { maxWaitMs: 30_000, what: 'every unusable entry in the dead-letter stream' },
      );
      assert.equal(dead.length, bad.length);
      const byId = new Map(dead.map(([, flat]) => [fieldsOf(flat).get('id'), fieldsOf(flat)]));
      bad.forEach((b, i) => {
        const fields = byId.get(badIds[i]);
        assert.ok(fields, `entry ${badIds[i]} parked`);
        assert.equal(fields.get('split'), name);
        assert.match(fields.get('reason')!, b.reason);
      });
      // The entry that named a uri gets an error result under it (a client polling for it learns why).
      const named = await waitFor(() => out.query('extra-field'), { what: 'result of the entry with an unknown field' });
      assert.equal(named.error?.code, 'CS_ERR_BAD_REQUEST');
      assert.match(named.error!.message, /unknown field "priority".*dead-letter/);

      const garbage = await waitFor(() => out.query('garbage'), { what: 'result of the undecodable entry' });
      assert.equal(garbage.error?.code, 'CS_ERR_BAD_REQUEST');
      assert.match(garbage.error!.message, /parked in .*:dead-letter/);
      // The undecodable payload is kept byte for byte.
      const garbageRow = dead.find(([, flat]) => fieldsOf(flat).get('uri') === 'garbage');
      assert.ok(garbageRow);
      const raw = (await redis.xrangeBuffer(deadLetterKey(name), garbageRow[0], garbageRow[0])) as [Buffer, Buffer[]][];
      assert.deepEqual(fieldsOfBuffers(raw[0]![1]).get('data'), Buffer.from([0x01, 0xff, 0xff, 0xff, 0xff, 0x0f]));

      // Acknowledged and trimmed off the main stream, counted once each.
      await waitFor(async () => (await redis.xlen(name)) === 0, { maxWaitMs: 30_000, what: 'main stream trimmed' });
      assert.equal(((await redis.xpending(name, 'serving')) as [number])[0], 0);
      await waitFor(() => runner!.unusable === bad.length, { what: 'unusable entries counted' });
      assert.equal(runner.parked, 0, 'not counted as poison');
    } finally {
      await runner?.close();
      await q.close();
      await out.close();
    }
  });
});
