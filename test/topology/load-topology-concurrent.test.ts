import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTopologySource } from '../../src/topology/load-topology';

/**
 * Found by the fuzz suite (test/fuzz/rest-doors.redis.test.ts): two identical submissions in the same
 * millisecond shared a temp file name; one rename failed with ENOENT and the JobManager answered 500.
 */
test('the same source loaded many times at once: every load succeeds and one cached file remains', async () => {
  const cacheDir = await mkdtemp(join(tmpdir(), 'cs-topology-race-'));
  try {
    const source = 'name: race\nsource: { type: redis }\nmodel: { path: /srv/model.onnx }\n';
    const loads = await Promise.allSettled(Array.from({ length: 50 }, () => loadTopologySource({ filename: 'race.yaml', source, baseDir: '/srv' }, cacheDir)));
    assert.deepEqual(loads.filter((l) => l.status === 'rejected').map((l) => String((l as PromiseRejectedResult).reason)), []);
    const files = await readdir(cacheDir);
    assert.equal(files.filter((f) => f.endsWith('.yaml')).length, 1, files.join());
    assert.deepEqual(files.filter((f) => f.endsWith('.tmp')), []);
  } finally {
    await rm(cacheDir, { recursive: true, force: true });
  }
});
