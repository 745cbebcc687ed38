import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { defaultModelsDir, ensureModels } from '../../src/models/generate';
import { uniqueName, waitFor } from '../support/wait-for';
import { LoadGenerator } from '../support/load-generator';
import { checkTinyResults, tinyInput, topologyFile, useE2eCluster, tinyTopology } from './e2e-helpers';

const ctx = useE2eCluster('scale');

/**
 * Each subtask calls a backend that takes 20 ms and serves one call at a time (an async step with
 * concurrency 1), so a subtask serves about 50 requests/s whatever the CPU: the throughput of the job is
 * bound by how many subtasks run, which is what adding TaskManagers changes.
 */
function slowTopology(name: string): string {
  return `import { topology } from 'cluster-serving';

const backend = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export default topology('${name}')
  .source({ type: 'redis', partitions: 1 })
  .mapAsync('slow-backend', async (request) => {
    await backend(20);
    return request;
  }, { concurrency: 1 })
  .batch({ maxSize: 16, maxDelayMs: 1 })
  .infer({ path: ${JSON.stringify(join(defaultModelsDir(), 'tiny.onnx'))} })
  .parallelism(2);
`;
}

test('a TaskManager started mid-load receives a subtask and the job serves ≥ 1.8× faster with two', async () => {
  await ctx.cluster.startTaskManager('tm-1', 1);
  const name = uniqueName('scale');
  const { jobId } = await ctx.cluster.client.submitJob(topologyFile(ctx.dir, `${name}.ts`, slowTopology(name)));
  await waitFor(async () => (await ctx.cluster.client.jobStatus(jobId)).subtasks.some((s) => s.taskManagerId === 'tm-1'), { maxWaitMs: 30_000, what: 'subtask on tm-1' });

  const gen = new LoadGenerator(ctx.redis, name, 1, tinyInput);
  try {
    // More than two subtasks can serve, so both phases measure capacity, not the offered rate.
    const start = performance.now();
    let secondStartedAt = 0;
    let starting: Promise<unknown> | undefined;
    await gen.run(150, 14, (elapsed) => {
      if (elapsed >= 6000 && !starting) starting = ctx.cluster.startTaskManager('tm-2', 1).then(() => (secondStartedAt = performance.now()));
    });
    await starting;
    const status = await ctx.cluster.client.jobStatus(jobId);
    assert.deepEqual(status.subtasks.map((s) => s.taskManagerId).sort(), ['tm-1', 'tm-2'], 'the new TaskManager took a subtask');
    const one = gen.rate(start + 2000, start + 6000);
    // Measure two TaskManagers after the new one has had a moment to start its subtask.
    const two = gen.rate(secondStartedAt + 2000, start + 14_000);
    console.log(`scale-out: one TaskManager ${one.toFixed(1)} requests/s, two ${two.toFixed(1)} requests/s, ratio ${(two / one).toFixed(2)}`);
    assert.ok(two >= 1.8 * one, `two TaskManagers ${two.toFixed(1)}/s vs one ${one.toFixed(1)}/s`);
    await waitFor(() => gen.missing().length === 0, { maxWaitMs: 60_000, what: `every request answered (${gen.missing().length} missing)` });
    assert.deepEqual(gen.duplicated(), []);
    assert.deepEqual(checkTinyResults(gen), []);
  } finally {
    await gen.close();
  }
});
