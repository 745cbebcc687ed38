import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Redis from 'ioredis';
import * as ort from 'onnxruntime-node';
import { InputQueue } from '../../src/client/input-queue';
import { OutputQueue } from '../../src/client/output-queue';
import { encodeRequest } from '../../src/protocol/native/native-codec';
import { tinyReference } from '../../src/models/tiny-mlp';
import { tensorFrom, toTypedArray } from '../../src/tensor/tensor';
import { ClusterServingError } from '../../src/errors';
import { testRedisUrl, stopTestRedis } from '../support/redis';
import { testModels } from '../support/test-models';
import { startSubtask } from '../support/subtask';
import { uniqueName, waitFor } from '../support/wait-for';


function input(seed: number, rows = 1): Float32Array {
  return Float32Array.from({ length: 16 * rows }, (_, i) => Math.sin(seed * 31 + i));
}


describe('subtask runner against real Redis and ONNX Runtime', () => {
  let url: string;
  let models: Awaited<ReturnType<typeof testModels>>;
  before(async () => {
    url = await testRedisUrl();
    models = await testModels();
  });
  after(stopTestRedis);

  test('predict returns what onnxruntime-node gives directly, for single and multi-row requests', async () => {
    const name = uniqueName('tiny');
    const r = await startSubtask(url, { name, source: { type: 'redis' }, model: { path: models.tiny }, batch: { maxSize: 8, maxDelayMs: 2 } });
    const q = new InputQueue({ redis: url, stream: name });
    const session = await ort.InferenceSession.create(models.tiny);
    try {
      const inputs = Array.from({ length: 20 }, (_, i) => input(i, 1 + (i % 3)));
      const outs = await Promise.all(inputs.map((x) => q.predict({ input: { data: x, shape: [x.length / 16, 16] } }, { timeoutMs: 30_000 })));
      for (let i = 0; i < inputs.length; i++) {
        const x = inputs[i]!;
        const direct = (await session.run({ input: new ort.Tensor('float32', x, [x.length / 16, 16]) })).output!.data as Float32Array;
        const got = toTypedArray(outs[i]!.get('output')!) as Float32Array;
        assert.deepEqual([...outs[i]!.get('output')!.shape], [x.length / 16, 8]);
        assert.deepEqual(got, direct, `request ${i}`);
        const ref = tinyReference(x, x.length / 16);
        got.forEach((v, j) => assert.ok(Math.abs(v - ref[j]!) < 1e-5));
      }
    } finally {
      await q.close();
      await r.close();
      await session.release();
    }
  });

  test('bad inputs get an error result each while good requests around them succeed', async () => {
    const name = uniqueName('bad');
    const r = await startSubtask(url, { name, source: { type: 'redis' }, model: { path: models.tiny }, batch: { maxSize: 16, maxDelayMs: 5 } });
    const redis = new Redis(url);
    const out = new OutputQueue({ redis: url, stream: name });
    const q = new InputQueue({ redis: url, stream: name });
    try {
      const good = (i: number) => q.enqueue(`good-${i}`, { input: { data: input(i), shape: [1, 16] } });
      await good(0);
      await redis.xadd(name, '*', 'uri', 'malformed', 'data', Buffer.from([1, 0xff, 0xff, 0xff, 0x7f, 3]));
      await good(1);
      // Unknown dtype: a valid request whose enum index is out of range (Avro enum = zigzag index).
      const valid = encodeRequest(new Map([['input', tensorFrom(input(2), [1, 16])]]));
      const dtypeAt = 1 /* version */ + 1 /* array count */ + 1 + 'input'.length; // name length byte + name
      const unknownDtype = Buffer.from(valid);
      unknownDtype[dtypeAt] = 2 * 9; // index 9: no such dtype
      await redis.xadd(name, '*', 'uri', 'unknown-dtype', 'data', unknownDtype);
      await good(2);
      await q.enqueue('wrong-rank', { input: { data: input(3), shape: [16] } });
      await q.enqueue('wrong-size', { input: { data: new Float32Array(12), shape: [1, 12] } });
      await q.enqueue('wrong-dtype', { input: { data: new Float64Array(16), shape: [1, 16] } });
      await q.enqueue('wrong-name-count', { input: { data: input(4), shape: [1, 16] }, extra: { data: input(5), shape: [1, 16] } });
      await redis.xadd(name, '*', 'uri', 'bytes-mismatch', 'data', encodeRequest(new Map([['input', { dtype: 'float32', shape: [1, 16], data: new Uint8Array(10) }]])));
      await good(3);
      const expectError: Record<string, string> = {
        malformed: 'CS_ERR_BAD_REQUEST',
        'unknown-dtype': 'CS_ERR_BAD_REQUEST',
        'wrong-rank': 'CS_ERR_SHAPE',
        'wrong-size': 'CS_ERR_SHAPE',
        'wrong-dtype': 'CS_ERR_SHAPE',
        'wrong-name-count': 'CS_ERR_SHAPE',
        'bytes-mismatch': 'CS_ERR_BAD_REQUEST',
      };
      for (const [uri, code] of Object.entries(expectError)) {
        const res = await waitFor(() => out.query(uri), { what: `result of ${uri}` });
        assert.equal(res.error?.code, code, `${uri}: ${res.error?.message}`);
        assert.equal(res.outputs.size, 0);
      }
      for (let i = 0; i < 4; i++) {
        const res = await waitFor(() => out.query(`good-${i}`), { what: `good-${i}` });
        assert.equal(res.error, undefined);
        const got = toTypedArray(res.outputs.get('output')!) as Float32Array;
        const ref = tinyReference(input(i), 1);
        got.forEach((v, j) => assert.ok(Math.abs(v - ref[j]!) < 1e-5, `good-${i}[${j}]`));
      }
      const wrongRank = await out.query('wrong-rank');
      assert.match(wrongRank!.error!.message, /input input: shape \[16\] has rank 1, expected rank 2/);
      // Everything was acknowledged and trimmed: nothing pending, nothing left in the stream.
      await waitFor(async () => (await redis.xlen(name)) === 0, { what: 'stream trimmed' });
      const pending = (await redis.xpending(name, 'serving')) as [number, ...unknown[]];
      assert.equal(pending[0], 0);
    } finally {
      await q.close();
      await out.close();
      redis.disconnect();
      await r.close();
    }
  });

  test('a model that throws fails only the request that made it throw', async () => {
    const name = uniqueName('add');
    const r = await startSubtask(url, { name, source: { type: 'redis' }, model: { path: models.add }, batch: { maxSize: 8, maxDelayMs: 5 } });
    const q = new InputQueue({ redis: url, stream: name });
    try {
      const ok = (n: number) => q.predict({ a: { data: new Float32Array(n).fill(1), shape: [1, n] }, b: { data: new Float32Array(n).fill(2), shape: [1, n] } });
      const bad = q.predict({ a: { data: new Float32Array(3), shape: [1, 3] }, b: { data: new Float32Array(4), shape: [1, 4] } });
      const [r1, r2, r3] = await Promise.allSettled([ok(4), bad, ok(4)]);
      assert.equal(r1.status, 'fulfilled');
      assert.equal(r3.status, 'fulfilled');
      assert.equal(r2.status, 'rejected');
      assert.ok(r2.status === 'rejected' && r2.reason instanceof ClusterServingError && r2.reason.code === 'CS_ERR_INFERENCE', String(r2.status === 'rejected' && r2.reason));
      assert.deepEqual([...(toTypedArray(r1.status === 'fulfilled' ? r1.value.get('sum')! : tensorFrom(new Float32Array(), [0])) as Float32Array)], [3, 3, 3, 3]);
      // The subtask still serves.
      assert.equal((await ok(2)).get('sum')!.shape[1], 2);
    } finally {
      await q.close();
      await r.close();
    }
  });

  test('predict rejects with CS_ERR_TIMEOUT when nothing serves the stream', async () => {
    const q = new InputQueue({ redis: url, stream: uniqueName('nobody') });
    try {
      await assert.rejects(q.predict({ x: { data: new Float32Array(1), shape: [1, 1] } }, { timeoutMs: 200 }), (e: unknown) => e instanceof ClusterServingError && e.code === 'CS_ERR_TIMEOUT');
    } finally {
      await q.close();
    }
  });

  test('entries delivered before a restart and never acknowledged are served after it', async () => {
    const name = uniqueName('restart');
    const redis = new Redis(url);
    const out = new OutputQueue({ redis: url, stream: name });
    const q = new InputQueue({ redis: url, stream: name });
    try {
      await redis.xgroup('CREATE', name, 'serving', '0', 'MKSTREAM');
      for (let i = 0; i < 5; i++) await q.enqueue(`r-${i}`, { input: { data: input(i), shape: [1, 16] } });
      // A reader with the runner's consumer name takes them and dies before writing anything.
      await redis.xreadgroup('GROUP', 'serving', `${name}-0`, 'COUNT', 10, 'STREAMS', name, '>');
      const r = await startSubtask(url, { name, source: { type: 'redis' }, model: { path: models.tiny } });
      try {
        for (let i = 0; i < 5; i++) await waitFor(() => out.query(`r-${i}`), { what: `r-${i}` });
      } finally {
        await r.close();
      }
    } finally {
      await q.close();
      await out.close();
      redis.disconnect();
    }
  });
});
