import { test } from 'node:test';
import assert from 'node:assert/strict';
import { uniqueName, waitFor } from '../support/wait-for';
import { LoadGenerator } from '../support/load-generator';
import { checkTinyResults, tinyInput, useE2eCluster, tinyTopology } from './e2e-helpers';

const ctx = useE2eCluster('scale');

/**
 * Outcomes, not speed (throughput figures belong in `npm run bench`): a job of two subtasks on two splits
 * starts with one slot in the cluster, so one split waits; a TaskManager started mid-load takes the other
 * subtask, serves its split (its checkpoints are recorded by the new TaskManager) and every request is
 * answered once, correctly.
 */
test('a TaskManager started mid-load receives a subtask and serves its split', async () => {
  await ctx.cluster.startTaskManager('tm-1', 1);
  const name = uniqueName('scale');
  const { jobId } = await ctx.cluster.client.submitJob(tinyTopology(ctx.dir, name, 2, 2));
  await waitFor(async () => (await ctx.cluster.client.jobStatus(jobId)).subtasks.some((s) => s.taskManagerId === 'tm-1'), { maxWaitMs: 30_000, what: 'subtask on tm-1' });

  const gen = new LoadGenerator(ctx.redis, name, 2, tinyInput);
  try {
    await gen.run(150, 2);
    const firstBeforeSecond = gen.sent.size;
    let started = false;
    const starting = ctx.cluster.startTaskManager('tm-2', 1).then(() => (started = true));
    // Load goes on until the new TaskManager runs a subtask and has recorded a checkpoint of its split.
    await gen.runUntil(
      150,
      async () => {
        if (!started) return false;
        const status = await ctx.cluster.client.jobStatus(jobId);
        const splits = status.subtasks.filter((s) => s.taskManagerId === 'tm-2').flatMap((s) => s.splits);
        if (splits.length === 0) return false;
        const { splits: checkpoints } = await ctx.cluster.client.checkpoints(jobId);
        return splits.every((split) => checkpoints.some((c) => c.split === split && c.taskManagerId === 'tm-2'));
      },
      { maxWaitMs: 60_000, what: 'tm-2 serving a split' },
    );
    await starting;
    await gen.run(150, 2);
    const status = await ctx.cluster.client.jobStatus(jobId);
    assert.deepEqual(status.subtasks.map((s) => s.taskManagerId).sort(), ['tm-1', 'tm-2'], 'the new TaskManager took a subtask');
    assert.ok(gen.sent.size > firstBeforeSecond, 'load ran while the second TaskManager started');
    await waitFor(() => gen.missing().length === 0, { maxWaitMs: 60_000, what: `every request answered (${gen.missing().length} missing)` });
    assert.deepEqual(gen.duplicated(), []);
    assert.deepEqual(checkTinyResults(gen), []);
    // Each split's checkpoint was last recorded by the TaskManager its subtask runs on.
    const { splits: checkpoints } = await ctx.cluster.client.checkpoints(jobId);
    for (const subtask of status.subtasks) {
      for (const split of subtask.splits) {
        assert.ok(checkpoints.some((c) => c.split === split && c.taskManagerId === subtask.taskManagerId), `${split} served by ${subtask.taskManagerId}: ${JSON.stringify(checkpoints)}`);
      }
    }
    console.log(`scale-out: ${gen.sent.size} requests, ${gen.sent.size - firstBeforeSecond} sent after the second TaskManager was started, all answered once`);
  } finally {
    await gen.close();
  }
});
