import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { defaultModelsDir, ensureModels } from '../../src/models/generate';
import { uniqueName, waitFor } from '../support/wait-for';
import { LoadGenerator } from '../support/load-generator';
import type { JobStatus } from '../../src/cluster-api/dto';
import { checkTinyResults, tinyInput, topologyFile, useE2eCluster, tinyTopology } from './e2e-helpers';

const ctx = useE2eCluster('failover');

test('3 TaskManagers serve a job; one is SIGKILLed under load: every request gets exactly one result and the survivors take its splits over', async () => {
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
  try {
    await gen.run(rate, 3);
    victimProcess.child.kill('SIGKILL');
    const killedAt = performance.now();
    const firstAfterKill = gen.sent.size;
    // Load goes on until the victim's subtasks run elsewhere (an outcome, however long the machine takes).
    let reassigned: JobStatus | undefined;
    await gen.runUntil(
      rate,
      async () => {
        const s = await ctx.cluster.client.jobStatus(jobId).catch(() => undefined);
        if (s?.subtasks.every((t) => t.taskManagerId !== null && t.taskManagerId !== victim)) reassigned = s;
        return reassigned !== undefined;
      },
      { maxWaitMs: 60_000, what: "the victim's subtasks reassigned" },
    );
    const reassignedAt = performance.now();
    // Then more load, served by the survivors alone.
    const firstAfterReassign = gen.sent.size;
    await gen.run(rate, 3);
    await waitFor(() => gen.missing().length === 0, { maxWaitMs: 40_000, what: `every request answered (${gen.missing().length} missing)` });
    assert.deepEqual(gen.duplicated(), [], 'no request got two results');
    assert.deepEqual(checkTinyResults(gen), []);
    assert.ok(gen.sentSince(firstAfterKill).length > 0 && gen.sentSince(firstAfterReassign).length > 0, 'load ran across the failover');
    // The victim's splits are read by survivors, which record their checkpoints.
    const victimSplits = before.subtasks.filter((t) => t.taskManagerId === victim).flatMap((t) => t.splits);
    await waitFor(
      async () => {
        const { splits } = await ctx.cluster.client.checkpoints(jobId);
        return victimSplits.every((split) => splits.some((c) => c.split === split && c.taskManagerId !== victim));
      },
      { maxWaitMs: 30_000, what: "checkpoints of the victim's splits recorded by a survivor" },
    );
    // Figures for the reader (the bench measures throughput; nothing here depends on speed).
    const sentBeforeKill = [...gen.sent].filter(([, at]) => at < killedAt).map(([u]) => u);
    const lagZeroAt = Math.max(...sentBeforeKill.map((u) => gen.replies.get(u)![0]!.at));
    console.log(
      `failover: ${gen.sent.size} requests, kill → splits reassigned ${((reassignedAt - killedAt) / 1000).toFixed(2)} s, ` +
        `kill → every earlier request answered ${((lagZeroAt - killedAt) / 1000).toFixed(2)} s (offered ${rate}/s)`,
    );
  } finally {
    await gen.close();
  }
});
