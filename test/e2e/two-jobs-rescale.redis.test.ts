import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultModelsDir, ensureModels } from '../../src/models/generate';
import { tensorFrom, toTypedArray } from '../../src/tensor/tensor';
import { stopTestRedis, testRedisUrl } from '../support/redis';
import { uniqueName, waitFor } from '../support/wait-for';
import { TestCluster } from '../support/cluster-processes';
import { LoadGenerator } from '../support/load-generator';
import { writeAddModel } from '../support/test-models';
import { checkTinyResults, tinyInput, topologyFile } from './e2e-helpers';

let cluster: TestCluster;
let redis: string;
let dir: string;

before(async () => {
  redis = await testRedisUrl();
  await ensureModels(defaultModelsDir());
  dir = mkdtempSync(join(tmpdir(), 'cs-two-jobs-'));
  cluster = await TestCluster.start(redis, dir);
});

after(async () => {
  await cluster?.stop();
  await stopTestRedis();
});

test('two jobs with different models share the TaskManagers; rescaling one 1 → 3 → 1 does not disturb the other', async () => {
  await cluster.startTaskManager('tm-1', 3);
  await cluster.startTaskManager('tm-2', 3);
  const tiny = uniqueName('tiny-job');
  const add = uniqueName('add-job');
  const addModel = writeAddModel(dir);
  const tinyJob = (await cluster.client.submitJob(topologyFile(dir, `${tiny}.yaml`, `name: ${tiny}\nsource: { type: redis, partitions: 3 }\nbatch: { maxSize: 32, maxDelayMs: 1 }\nmodel: { path: ${join(defaultModelsDir(), 'tiny.onnx')} }\nparallelism: 1\n`))).jobId;
  const addJob = (await cluster.client.submitJob(topologyFile(dir, `${add}.yaml`, `name: ${add}\nsource: { type: redis, partitions: 2 }\nbatch: { maxSize: 32, maxDelayMs: 1 }\nmodel: { path: ${addModel} }\nparallelism: 2\n`))).jobId;
  const assigned = async (jobId: string): Promise<boolean> => (await cluster.client.jobStatus(jobId)).subtasks.every((s) => s.taskManagerId !== null);
  await waitFor(async () => (await assigned(tinyJob)) && (await assigned(addJob)), { maxWaitMs: 20_000, what: 'both jobs assigned' });
  const addPlacement = JSON.stringify((await cluster.client.jobStatus(addJob)).subtasks);

  const addInput = (i: number) => new Map([['a', tensorFrom(Float32Array.from([i, 1, 2]), [1, 3])], ['b', tensorFrom(Float32Array.from([1, 1, 1]), [1, 3])]]);
  const tinyGen = new LoadGenerator(redis, tiny, 3, tinyInput);
  const addGen = new LoadGenerator(redis, add, 2, addInput);
  const placements = new Set<string>();
  try {
    const rescales = (async () => {
      for (const parallelism of [3, 1]) {
        await new Promise((r) => setTimeout(r, 1500));
        await cluster.client.rescaleJob(tinyJob, parallelism);
        await waitFor(async () => {
          const s = await cluster.client.jobStatus(tinyJob);
          return s.subtasks.length === parallelism && s.subtasks.every((t) => t.taskManagerId !== null);
        }, { maxWaitMs: 20_000, what: `tiny job at parallelism ${parallelism}` });
      }
    })();
    const watchAdd = (async () => {
      const until = performance.now() + 6000;
      while (performance.now() < until) {
        placements.add(JSON.stringify((await cluster.client.jobStatus(addJob)).subtasks));
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    await Promise.all([tinyGen.run(150, 6), addGen.run(150, 6), rescales, watchAdd]);
    assert.deepEqual([...placements], [addPlacement], 'the other job kept its subtasks where they were');
    await waitFor(() => tinyGen.missing().length === 0 && addGen.missing().length === 0, { maxWaitMs: 30_000, what: 'every request of both jobs answered' });
    assert.deepEqual(tinyGen.duplicated(), []);
    assert.deepEqual(addGen.duplicated(), []);
    assert.deepEqual(checkTinyResults(tinyGen), []);
    for (const [uri, [reply]] of addGen.replies) {
      const i = Number(/^req-(\d+)-/.exec(uri)?.[1]);
      assert.equal(reply!.result.error, undefined, uri);
      assert.deepEqual([...(toTypedArray(reply!.result.outputs.get('sum')!) as Float32Array)], [i + 1, 2, 3]);
    }
    console.log(`two jobs: ${tinyGen.sent.size} + ${addGen.sent.size} requests through a rescale 1 → 3 → 1 of one job, all answered once`);
  } finally {
    await tinyGen.close();
    await addGen.close();
  }
});
