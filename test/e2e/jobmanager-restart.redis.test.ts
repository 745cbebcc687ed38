import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { defaultModelsDir, ensureModels } from '../../src/models/generate';
import { uniqueName, waitFor } from '../support/wait-for';
import { LoadGenerator } from '../support/load-generator';
import { checkTinyResults, tinyInput, topologyFile, useE2eCluster, tinyTopology } from './e2e-helpers';

const ctx = useE2eCluster('jm-restart');

test('the JobManager SIGKILLed under load loses no request; restarted, it lists the same jobs and assignments', async () => {
  await ctx.cluster.startTaskManager('tm-1', 2);
  await ctx.cluster.startTaskManager('tm-2', 2);
  const name = uniqueName('jm-restart');
  const { jobId } = await ctx.cluster.client.submitJob(
    tinyTopology(ctx.dir, name, 2, 2),
  );
  await waitFor(async () => (await ctx.cluster.client.jobStatus(jobId)).state === 'RUNNING', { maxWaitMs: 60_000, what: 'job RUNNING (every subtask serves)' });
  const jobsBefore = await ctx.cluster.client.listJobs();
  const statusBefore = await ctx.cluster.client.jobStatus(jobId);

  const gen = new LoadGenerator(ctx.redis, name, 2, tinyInput);
  try {
    await gen.run(200, 2);
    const jobManager = ctx.cluster.jobManager!;
    jobManager.child.kill('SIGKILL');
    await jobManager.exited;
    // Load while the JobManager is down; it stays down until every request sent meanwhile is answered:
    // the TaskManagers serve without it (an outcome, whatever the machine's speed).
    const firstWhileDown = gen.sent.size;
    await gen.run(200, 3);
    const sentWhileDown = gen.sentSince(firstWhileDown);
    await waitFor(() => gen.answered(sentWhileDown) === sentWhileDown.length, {
      maxWaitMs: 60_000,
      what: `every request sent while the JobManager was down answered before it restarts (${gen.answered(sentWhileDown)}/${sentWhileDown.length})`,
    });
    assert.ok(sentWhileDown.length > 0);
    await ctx.cluster.startJobManager();
    await gen.run(200, 2);
    await waitFor(() => gen.missing().length === 0, { maxWaitMs: 30_000, what: `every request answered (${gen.missing().length} missing)` });
    assert.deepEqual(gen.duplicated(), []);
    assert.deepEqual(checkTinyResults(gen), []);
    console.log(`jobmanager restart: ${gen.sent.size} requests, ${sentWhileDown.length} sent and answered while the JobManager was down`);

    const jobsAfter = await ctx.cluster.client.listJobs();
    assert.deepEqual(jobsAfter, jobsBefore);
    const statusAfter = await ctx.cluster.client.jobStatus(jobId);
    assert.equal(statusAfter.state, 'RUNNING');
    assert.deepEqual(
      statusAfter.subtasks.map((s) => [s.index, s.taskManagerId, [...s.splits]]),
      statusBefore.subtasks.map((s) => [s.index, s.taskManagerId, [...s.splits]]),
    );
    // The restarted JobManager still hears both TaskManagers.
    await waitFor(async () => (await ctx.cluster.client.listTaskManagers()).taskmanagers.length === 2, { what: 'both TaskManagers known' });
  } finally {
    await gen.close();
  }
});
