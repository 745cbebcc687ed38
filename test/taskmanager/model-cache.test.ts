import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { modelCachePath } from '../../src/cluster-api/model-files';
import { ClusterServingError, ConnectorError } from '../../src/errors';
import { createLogger } from '../../src/logging/logger';
import { ModelCache } from '../../taskmanager/model-cache';

const logger = createLogger('test', process.env.CS_TEST_LOG_LEVEL ?? 'silent');

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A body streamed in small chunks, the way a large download arrives. */
function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(offset, offset + 1000));
      offset += 1000;
    },
  });
}

describe('ModelCache', () => {
  let dir: string;
  const model = Uint8Array.from({ length: 10_000 }, (_, i) => (i * 7) % 251);
  const hash = sha256(model);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cs-model-cache-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A cache whose model directory is the test's folder (`dir`), unless `modelDirs` says otherwise. */
  function cache(cacheDir: string, download: (sha256: string) => Promise<ReadableStream<Uint8Array>>, modelDirs: readonly string[] = [dir]): ModelCache {
    return new ModelCache({ cacheDir, modelDirs, download, logger });
  }

  it('keeps the topology path inside the model directories when the JobManager holds no copy, or when the local bytes are the same', async () => {
    const local = join(dir, 'same.onnx');
    await writeFile(local, model);
    let downloads = 0;
    const c = cache(join(dir, 'cache-same'), async () => {
      downloads += 1;
      return streamOf(model);
    });
    assert.equal(await c.resolve('job', local, undefined), local);
    assert.equal(await c.resolve('job', local, hash), local);
    assert.equal(await c.resolve('job', local, hash), local);
    assert.equal(downloads, 0);
  });

  it('reads no path outside the model directories: without a copy on the JobManager that is CS_ERR_MODEL_LOAD, with one it downloads by hash', async () => {
    const local = join(dir, 'outside.onnx');
    await writeFile(local, model);
    let asked: string | undefined;
    const c = cache(join(dir, 'cache-outside'), async (sha) => {
      asked = sha;
      return streamOf(model);
    }, []);
    for (const path of [local, '/etc/passwd']) {
      await assert.rejects(c.resolve('job', path, undefined), (err: unknown) => err instanceof ClusterServingError && err.code === 'CS_ERR_MODEL_LOAD' && /no file inside this TaskManager's model directories \(none/.test(err.message));
    }
    assert.equal(await c.resolve('job', local, hash), modelCachePath(join(dir, 'cache-outside'), hash));
    assert.equal(asked, hash, 'downloaded by content hash');
  });

  it('downloads a missing or different model once for concurrent subtasks, verifies it and caches it by hash', async () => {
    const different = join(dir, 'different.onnx');
    await writeFile(different, Uint8Array.of(1, 2, 3));
    const cacheDir = join(dir, 'cache-download');
    let downloads = 0;
    const c = cache(cacheDir, async (sha) => {
      assert.equal(sha, hash);
      downloads += 1;
      return streamOf(model);
    });
    const paths = await Promise.all([c.resolve('job-1', join(dir, 'missing.onnx'), hash), c.resolve('job-1', different, hash), c.resolve('job-1', join(dir, 'missing.onnx'), hash)]);
    const cached = modelCachePath(cacheDir, hash);
    assert.deepEqual(paths, [cached, cached, cached]);
    assert.equal(downloads, 1, 'one download for every subtask');
    assert.deepEqual(new Uint8Array(await readFile(cached)), model);
    assert.equal(await c.resolve('job-1', join(dir, 'missing.onnx'), hash), cached);
    assert.equal(downloads, 1, 'served from the cache afterwards');

    // Another TaskManager process (a fresh cache object) with the same cache dir hashes the file and uses it.
    const again = cache(cacheDir, async () => assert.fail('no download expected'));
    assert.equal(await again.resolve('job-1', join(dir, 'missing.onnx'), hash), cached);
  });

  it('refuses downloaded bytes of another hash and keeps nothing', async () => {
    const cacheDir = join(dir, 'cache-corrupt');
    const c = cache(cacheDir, async () => streamOf(Uint8Array.of(9, 9, 9)));
    await assert.rejects(c.resolve('job', join(dir, 'missing.onnx'), hash), (err: unknown) => err instanceof ClusterServingError && err.code === 'CS_ERR_MODEL_LOAD' && /expected/.test(err.message));
    assert.deepEqual(await readdir(join(cacheDir, 'models')), []);
  });

  it('passes on an unreachable JobManager as retriable, and a JobManager without the model as CS_ERR_MODEL_LOAD', async () => {
    const unreachable = cache(join(dir, 'cache-unreachable'), async () => {
      throw new ConnectorError('cannot reach the JobManager');
    });
    await assert.rejects(unreachable.resolve('job', join(dir, 'missing.onnx'), hash), (err: unknown) => err instanceof ClusterServingError && err.retriable);
    const without = cache(join(dir, 'cache-without'), async () => {
      throw new ClusterServingError('CS_ERR_NOT_FOUND', 'model of job job not found');
    });
    await assert.rejects(
      without.resolve('job', join(dir, 'missing.onnx'), hash),
      (err: unknown) => err instanceof ClusterServingError && err.code === 'CS_ERR_MODEL_LOAD' && !err.retriable && /missing\.onnx \(\w+\) could not be downloaded/.test(err.message),
    );
  });
});
