import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SharedModelCache } from '../../src/runtime/shared-model-cache';
import type { LoadedModel, ModelLoadOptions, ModelRuntime } from '../../src/runtime/model-runtime';
import { ClusterServingError } from '../../src/errors';
import type { NamedTensors } from '../../src/tensor/tensor';

/** A runtime that records loads and closes instead of starting sessions. */
class FakeRuntime implements ModelRuntime {
  loads: ModelLoadOptions[] = [];
  closes = 0;
  failNext = false;
  async load(options: ModelLoadOptions): Promise<LoadedModel> {
    this.loads.push(options);
    await new Promise((r) => setTimeout(r, 5));
    if (this.failNext) {
      this.failNext = false;
      throw new ClusterServingError('CS_ERR_MODEL_LOAD', 'bad model');
    }
    const id = this.loads.length;
    return {
      inputs: [{ name: 'input', dtype: 'float32', shape: ['batch', 2] }],
      outputs: [{ name: 'output', dtype: 'float32', shape: ['batch', 2] }],
      concurrency: options.instances,
      allocateInput: (bytes) => new Uint8Array(bytes),
      run: async (feeds: NamedTensors) => new Map([['output', { ...feeds.get('input')!, shape: [id] }]]),
      close: async () => {
        this.closes++;
      },
    };
  }
}

function files(): { a: string; sameBytes: string; other: string } {
  const dir = mkdtempSync(join(tmpdir(), 'cs-shared-model-'));
  const a = join(dir, 'a.onnx');
  writeFileSync(a, 'model bytes A');
  const sameBytes = join(dir, 'copy-of-a.onnx');
  copyFileSync(a, sameBytes);
  const other = join(dir, 'b.onnx');
  writeFileSync(other, 'model bytes B');
  return { a, sameBytes, other };
}

const feeds = new Map([['input', { dtype: 'float32' as const, shape: [1, 2], data: new Uint8Array(8) }]]);

describe('SharedModelCache', () => {
  test('same content and options load once, even at once and from another path; the last close closes it', async () => {
    const runtime = new FakeRuntime();
    const cache = new SharedModelCache(runtime);
    const { a, sameBytes } = files();
    const [m1, m2, m3] = await Promise.all([
      cache.load({ path: a, threads: 2, instances: 1 }),
      cache.load({ path: a, threads: 2, instances: 1 }),
      cache.load({ path: sameBytes, threads: 2, instances: 1 }),
    ]);
    assert.equal(runtime.loads.length, 1);
    assert.equal(cache.size, 1);
    assert.equal(await cache.users({ path: a, threads: 2, instances: 1 }), 3);
    assert.deepEqual((await m1!.run(feeds)).get('output')!.shape, [1]);
    await m1!.close();
    await m1!.close(); // idempotent: gives back one reference only
    assert.equal(runtime.closes, 0);
    await assert.rejects(m1!.run(feeds), (e: ClusterServingError) => e.code === 'CS_ERR_CLOSED');
    assert.deepEqual((await m2!.run(feeds)).get('output')!.shape, [1], 'the others keep serving');
    await m2!.close();
    assert.equal(runtime.closes, 0);
    await m3!.close();
    assert.equal(runtime.closes, 1);
    assert.equal(cache.size, 0);
    await cache.load({ path: a, threads: 2, instances: 1 });
    assert.equal(runtime.loads.length, 2, 'loaded again after the last user closed');
  });

  test('other bytes or other threads / instances / spinning are other models', async () => {
    const runtime = new FakeRuntime();
    const cache = new SharedModelCache(runtime);
    const { a, other } = files();
    await cache.load({ path: a, threads: 1, instances: 1 });
    await cache.load({ path: other, threads: 1, instances: 1 });
    await cache.load({ path: a, threads: 2, instances: 1 });
    await cache.load({ path: a, threads: 1, instances: 2 });
    await cache.load({ path: a, threads: 1, instances: 1, spinning: true });
    await cache.load({ path: a, threads: 1, instances: 1, spinning: false });
    assert.equal(runtime.loads.length, 5);
    assert.equal(cache.size, 5);
  });

  test('a failed load is not kept; a changed file is a new model; an unreadable path goes to the runtime unshared', async () => {
    const runtime = new FakeRuntime();
    const cache = new SharedModelCache(runtime);
    const { a } = files();
    runtime.failNext = true;
    await assert.rejects(cache.load({ path: a, threads: 1, instances: 1 }), (e: ClusterServingError) => e.code === 'CS_ERR_MODEL_LOAD');
    assert.equal(cache.size, 0);
    const first = await cache.load({ path: a, threads: 1, instances: 1 });
    assert.equal(runtime.loads.length, 2);
    writeFileSync(a, 'model bytes A, version 2');
    await cache.load({ path: a, threads: 1, instances: 1 });
    assert.equal(runtime.loads.length, 3, 'new bytes, new model');
    assert.equal(cache.size, 2);
    await first.close();
    await cache.load({ path: '/no/such/model.onnx', threads: 1, instances: 1 });
    assert.equal(runtime.loads.length, 4);
    assert.equal(runtime.loads[3]!.path, '/no/such/model.onnx');
  });
});
