import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { defaultModelsDir, ensureModels } from '../../src/models/generate';
import { uniqueName, waitFor } from '../support/wait-for';
import { LoadGenerator } from '../support/load-generator';
import { checkTinyResults, tinyInput, topologyFile, useE2eCluster, tinyTopology } from './e2e-helpers';

const ctx = useE2eCluster('failover');

test('3 TaskManagers serve a job; one is SIGKILLed under load: every request gets exactly one result and throughput recovers', async () => {
  for (const id of ['tm-a', 'tm-b', 'tm-c']) await ctx.cluster.startTaskManager(id, 2);
  const name = uniqueName('failover');
  const source = topologyFile(
    ctx.dir,
    `${name}.yaml`,
    `name: ${name}\nsource: { type: redis, partitions: 3 }\nbatch: { maxSize: 32, maxDelayMs: 1 }\nmodel: { path: ${join(defaultModelsDir(), 'tiny.onnx')} }\nparallelism: 3\n`,
  );
  const { jobId } = await ctx.cluster.client.submitJob(source);
  await waitFor(async () => (await ctx.cluster.client.jobStatus(jobId)).subtasks.every((s) => s.taskManagerId !== null), { maxWaitMs: 20_000, what: 'all subtasks assigned' });
  const before = await ctx.cluster.client.jobStatus(jobId);
  const victim = before.subtasks[0]!.taskManagerId!;
  const victimProcess = ctx.cluster.processes.find((p) => p.child.spawnargs.includes(victim))!;

  const gen = new LoadGenerator(ctx.redis, name, 3, tinyInput);
  const rate = 200;
  let killedAt = 0;
  let reassignedAt = 0;
  const watch = (async () => {
    while (reassignedAt === 0) {
      await new Promise((r) => setTimeout(r, 50));
      if (killedAt === 0) continue;
      const s = await ctx.cluster.client.jobStatus(jobId).catch(() => undefined);
      if (s && s.subtasks.every((t) => t.taskManagerId !== null && t.taskManagerId !== victim)) reassignedAt = performance.now();
    }
  })();
  try {
    await gen.run(rate, 14, (elapsed) => {
      if (killedAt === 0 && elapsed >= 3000) {
        victimProcess.child.kill('SIGKILL');
        killedAt = performance.now();
      }
    });
    const loadEnd = performance.now();
    await waitFor(() => gen.missing().length === 0, { maxWaitMs: 40_000, what: `every request answered (${gen.missing().length} missing)` });
    await watch;
    assert.deepEqual(gen.duplicated(), [], 'no request got two results');
    assert.deepEqual(checkTinyResults(gen), []);
    // Recovery: kill → splits reassigned → every request sent before the kill answered (lag back to zero).
    const sentBeforeKill = [...gen.sent].filter(([, at]) => at < killedAt).map(([u]) => u);
    const lagZeroAt = Math.max(...sentBeforeKill.map((u) => gen.replies.get(u)![0]!.at));
    const recovered = gen.rate(loadEnd - 3000, loadEnd);
    console.log(
      `failover: ${gen.sent.size} requests, kill → splits reassigned ${((reassignedAt - killedAt) / 1000).toFixed(2)} s, ` +
        `kill → every earlier request answered ${((lagZeroAt - killedAt) / 1000).toFixed(2)} s, ` +
        `throughput before kill ${gen.rate(killedAt - 2000, killedAt).toFixed(0)}/s, last 3 s ${recovered.toFixed(0)}/s (offered ${rate}/s)`,
    );
    assert.ok(recovered >= 0.75 * rate, `throughput recovered to ${recovered.toFixed(0)}/s of ${rate}/s offered`);
  } finally {
    await gen.close();
  }
});
