import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { defaultModelsDir, ensureModels } from '../../src/models/generate';
import { tensorFrom, toTypedArray } from '../../src/tensor/tensor';
import { uniqueName, waitFor } from '../support/wait-for';
import { LoadGenerator } from '../support/load-generator';
import { writeAddModel } from '../support/test-models';
import { checkTinyResults, tinyInput, topologyFile, useE2eCluster, tinyTopology } from './e2e-helpers';

const ctx = useE2eCluster('two-jobs');

test('two jobs with different models share the TaskManagers; rescaling one 1 → 3 → 1 does not disturb the other', async () => {
  await ctx.cluster.startTaskManager('tm-1', 3);
  await ctx.cluster.startTaskManager('tm-2', 3);
  const tiny = uniqueName('tiny-job');
  const add = uniqueName('add-job');
  const addModel = writeAddModel(ctx.dir);
  const tinyJob = (await ctx.cluster.client.submitJob(tinyTopology(ctx.dir, tiny, 3, 1))).jobId;
  const addJob = (await ctx.cluster.client.submitJob(topologyFile(ctx.dir, `${add}.yaml`, `name: ${add}\nsource: { type: redis, partitions: 2 }\nbatch: { maxSize: 32, maxDelayMs: 1 }\nmodel: { path: ${addModel} }\nparallelism: 2\n`))).jobId;
  const assigned = async (jobId: string): Promise<boolean> => (await ctx.cluster.client.jobStatus(jobId)).subtasks.every((s) => s.taskManagerId !== null);
  await waitFor(async () => (await assigned(tinyJob)) && (await assigned(addJob)), { maxWaitMs: 20_000, what: 'both jobs assigned' });
  const addPlacement = JSON.stringify((await ctx.cluster.client.jobStatus(addJob)).subtasks);

  const addInput = (i: number) => new Map([['a', tensorFrom(Float32Array.from([i, 1, 2]), [1, 3])], ['b', tensorFrom(Float32Array.from([1, 1, 1]), [1, 3])]]);
  const tinyGen = new LoadGenerator(ctx.redis, tiny, 3, tinyInput);
  const addGen = new LoadGenerator(ctx.redis, add, 2, addInput);
  const placements = new Set<string>();
  let rescaled = false;
  try {
    // Each step waits for an outcome, not for time: some of the tiny job's requests answered at the
    // current parallelism, then the rescale, then its subtasks all placed; the other job's placement is
    // read throughout, and load runs on both jobs until the last step is done.
    const answeredSince = (from: number, n: number) => (): boolean => tinyGen.answered(tinyGen.sentSince(from)) >= n;
    const rescales = (async () => {
      for (const parallelism of [3, 1]) {
        const from = tinyGen.sent.size;
        await waitFor(answeredSince(from, 100), { maxWaitMs: 60_000, what: `100 requests of the tiny job answered before rescaling to ${parallelism}` });
        await ctx.cluster.client.rescaleJob(tinyJob, parallelism);
        await waitFor(async () => {
          const s = await ctx.cluster.client.jobStatus(tinyJob);
          return s.subtasks.length === parallelism && s.subtasks.every((t) => t.taskManagerId !== null);
        }, { maxWaitMs: 20_000, what: `tiny job at parallelism ${parallelism}` });
        placements.add(JSON.stringify((await ctx.cluster.client.jobStatus(addJob)).subtasks));
      }
      const from = tinyGen.sent.size;
      await waitFor(answeredSince(from, 100), { maxWaitMs: 60_000, what: '100 requests of the tiny job answered after the rescales' });
    })().finally(() => (rescaled = true));
    let reads = 0;
    const watchAdd = (async () => {
      while (!rescaled) {
        placements.add(JSON.stringify((await ctx.cluster.client.jobStatus(addJob)).subtasks));
        reads++;
        await new Promise((r) => setTimeout(r, 100)); // polling interval, not a synchronisation
      }
    })();
    const done = (): boolean => rescaled;
    await Promise.all([tinyGen.runUntil(150, done, { what: 'the rescales' }), addGen.runUntil(150, done, { what: 'the rescales' }), rescales, watchAdd]);
    assert.ok(reads > 0);
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
