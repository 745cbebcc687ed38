import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InputQueue } from '../../src/client/input-queue';
import { onnxRuntime } from '../../src/runtime/onnx-runtime';
import { SharedModelCache, sharedOnnxModels } from '../../src/runtime/shared-model-cache';
import type { LoadedModel, ModelLoadOptions, ModelRuntime } from '../../src/runtime/model-runtime';
import { tinyReference } from '../../src/models/tiny-mlp';
import { toTypedArray } from '../../src/tensor/tensor';
import { testRedisUrl, stopTestRedis } from '../support/redis';
import { testModels } from '../support/test-models';
import { startSubtask } from '../support/subtask';
import { uniqueName } from '../support/wait-for';


/** ONNX Runtime, counting the sessions (one per instance, each on its own worker thread) it starts and ends. */
class CountingRuntime implements ModelRuntime {
  sessions = 0;
  closed = 0;
  async load(options: ModelLoadOptions): Promise<LoadedModel> {
    const model = await onnxRuntime.load(options);
    this.sessions += options.instances;
    return {
      inputs: model.inputs,
      outputs: model.outputs,
      concurrency: model.concurrency,
      allocateInput: (bytes) => model.allocateInput(bytes),
      run: (feeds) => model.run(feeds),
      close: async () => {
        this.closed += options.instances;
        await model.close();
      },
    };
  }
}


function input(seed: number): Float32Array {
  return Float32Array.from({ length: 16 }, (_, i) => Math.sin(seed * 13 + i));
}

async function assertServes(q: InputQueue, seeds: number[], what: string): Promise<void> {
  await Promise.all(
    seeds.map(async (seed) => {
      const out = await q.predict({ input: { data: input(seed), shape: [1, 16] } }, { timeoutMs: 5000 });
      const got = toTypedArray(out.get('output')!) as Float32Array;
      const ref = tinyReference(input(seed), 1);
      got.forEach((v, j) => assert.ok(Math.abs(v - ref[j]!) < 1e-5, `${what}: request ${seed}[${j}]`));
    }),
  );
}

describe('subtasks on one model file share one loaded model', () => {
  let url: string;
  let models: Awaited<ReturnType<typeof testModels>>;
  before(async () => {
    url = await testRedisUrl();
    models = await testModels();
  });
  after(stopTestRedis);

  test('two jobs on one model load it once, both serve, and closing one keeps the other serving', async () => {
    const runtime = new CountingRuntime();
    const cache = new SharedModelCache(runtime);
    const [a, b] = [uniqueName('shared-a'), uniqueName('shared-b')];
    const model = { path: models.tiny, threads: 1, instances: 2 };
    const ra = await startSubtask(url, { name: a, source: { type: 'redis' }, model, batch: { maxSize: 8, maxDelayMs: 2 } }, { runtime: cache });
    const rb = await startSubtask(url, { name: b, source: { type: 'redis' }, model, batch: { maxSize: 4, maxDelayMs: 1 }, postprocess: 'none' }, { runtime: cache });
    const qa = new InputQueue({ redis: url, stream: a });
    const qb = new InputQueue({ redis: url, stream: b });
    try {
      assert.equal(runtime.sessions, 2, 'one model of 2 instances: 2 sessions on 2 worker threads, not 4');
      assert.equal(cache.size, 1);
      assert.equal(await cache.users(model), 2);
      const seeds = Array.from({ length: 40 }, (_, i) => i);
      await Promise.all([assertServes(qa, seeds, a), assertServes(qb, seeds.map((s) => s + 100), b)]);
      await ra.close();
      assert.equal(runtime.closed, 0, 'the model stays loaded for the other job');
      assert.equal(await cache.users(model), 1);
      await assertServes(qb, seeds.map((s) => s + 200), `${b} after ${a} closed`);
      await rb.close();
      assert.equal(runtime.closed, 2, 'closed with its last user');
      assert.equal(cache.size, 0);
    } finally {
      await qa.close();
      await qb.close();
      await ra.close();
      await rb.close();
    }
  });

  test('by default, runners of one process share through sharedOnnxModels; other options load another model', async () => {
    const [a, b, c] = [uniqueName('default-a'), uniqueName('default-b'), uniqueName('default-c')];
    const model = { path: models.tiny, threads: 1, instances: 1 };
    const before = sharedOnnxModels.size;
    const ra = await startSubtask(url, { name: a, source: { type: 'redis' }, model });
    const rb = await startSubtask(url, { name: b, source: { type: 'redis' }, model });
    const rc = await startSubtask(url, { name: c, source: { type: 'redis' }, model: { ...model, threads: 2 } });
    const qb = new InputQueue({ redis: url, stream: b });
    try {
      assert.equal(await sharedOnnxModels.users(model), 2);
      assert.equal(await sharedOnnxModels.users({ ...model, threads: 2 }), 1);
      assert.equal(sharedOnnxModels.size, before + 2);
      await ra.close();
      await assertServes(qb, [1, 2, 3], b);
    } finally {
      await qb.close();
      await Promise.all([ra.close(), rb.close(), rc.close()]);
    }
    assert.equal(sharedOnnxModels.size, before);
  });
});
