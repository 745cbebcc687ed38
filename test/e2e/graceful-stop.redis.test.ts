import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { defaultModelsDir, ensureModels } from '../../src/models/generate';
import { uniqueName, waitFor } from '../support/wait-for';
import { LoadGenerator } from '../support/load-generator';
import { checkTinyResults, tinyInput, topologyFile, useE2eCluster, tinyTopology } from './e2e-helpers';

const ctx = useE2eCluster('graceful');

test('a TaskManager stopped with SIGTERM under load finishes its batches, releases its splits at once, and nothing is lost', async () => {
  await ctx.cluster.startTaskManager('tm-1', 2);
  const leaving = await ctx.cluster.startTaskManager('tm-2', 2);
  const name = uniqueName('graceful');
  const { jobId } = await ctx.cluster.client.submitJob(
    tinyTopology(ctx.dir, name, 2, 2),
  );
  await waitFor(async () => new Set((await ctx.cluster.client.jobStatus(jobId)).subtasks.map((s) => s.taskManagerId)).size === 2, { maxWaitMs: 20_000, what: 'one subtask on each TaskManager' });

  const gen = new LoadGenerator(ctx.redis, name, 2, tinyInput);
  let stoppedAt = 0;
  try {
    await gen.run(300, 2);
    leaving.child.kill('SIGTERM');
    stoppedAt = performance.now();
    let exited = false;
    const exitCode = leaving.exited.finally(() => (exited = true));
    // Load goes on until the TaskManager has exited, however long it takes to finish its batches.
    await gen.runUntil(300, () => exited, { what: 'the TaskManager exited' });
    assert.equal(await exitCode, 0, leaving.output());
    // Deregistered on the way out: the moment it has exited, the JobManager no longer lists it (a lost
    // TaskManager would still be listed until its heartbeat timeout); its subtask moves to tm-1.
    const members = await ctx.cluster.client.listTaskManagers();
    assert.ok(!members.taskmanagers.some((t) => t.id === 'tm-2'), JSON.stringify(members.taskmanagers));
    await waitFor(async () => (await ctx.cluster.client.jobStatus(jobId)).subtasks.every((s) => s.taskManagerId === 'tm-1'), { maxWaitMs: 30_000, what: 'both subtasks on tm-1' });
    await gen.run(300, 1);
    await waitFor(() => gen.missing().length === 0, { maxWaitMs: 20_000, what: `every request answered (${gen.missing().length} missing)` });
    assert.deepEqual(gen.duplicated(), []);
    assert.deepEqual(checkTinyResults(gen), []);
    const sentBefore = [...gen.sent].filter(([, at]) => at < stoppedAt).map(([u]) => u);
    const lastAnswer = Math.max(...sentBefore.map((u) => gen.replies.get(u)![0]!.at));
    console.log(`graceful stop: ${gen.sent.size} requests; every request sent before SIGTERM answered ${((lastAnswer - stoppedAt) / 1000).toFixed(2)} s after it`);
  } finally {
    await gen.close();
  }
});
