import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { JobStatus } from '../../src/cluster-api/dto';
import { uniqueName, waitFor } from '../support/wait-for';
import { LoadGenerator } from '../support/load-generator';
import type { CsProcess } from '../support/cluster-processes';
import { join } from 'node:path';
import { TaskManager } from '../../taskmanager/taskmanager';
import { createLogger } from '../../src/logging/logger';
import { checkTinyResults, tinyInput, tinyTopology, useE2eCluster } from './e2e-helpers';

// The JobManager runs with the default heartbeat interval and timeout: these drills are about them.
const ctx = useE2eCluster('fencing', { heartbeats: 'default' });

async function runningJob(name: string, partitions: number, parallelism: number): Promise<JobStatus> {
  const { jobId } = await ctx.cluster.client.submitJob(tinyTopology(ctx.dir, name, partitions, parallelism));
  return waitFor(async () => {
    const s = await ctx.cluster.client.jobStatus(jobId);
    return s.state === 'RUNNING' && s.subtasks.every((t) => t.taskManagerId !== null) ? s : undefined;
  }, { maxWaitMs: 30_000, what: 'all subtasks assigned' });
}

function processOf(taskManagerId: string): CsProcess {
  return ctx.cluster.processes.find((p) => p.child.spawnargs.includes(taskManagerId))!;
}

test('a TaskManager paused past the heartbeat timeout, then resumed, under load: 0 duplicates and 0 lost (its writes are fenced)', async () => {
  for (const id of ['tm-p1', 'tm-p2', 'tm-p3']) await ctx.cluster.startTaskManager(id, 2);
  const name = uniqueName('paused');
  const job = await runningJob(name, 3, 3);
  const victim = job.subtasks[0]!.taskManagerId!;
  const victimProcess = processOf(victim);
  // Results are deleted as the client reads them (as InputQueue does): nothing but the sink's own
  // record may stop a late duplicate.
  const gen = new LoadGenerator(ctx.redis, name, 3, tinyInput, { deleteResults: true });
  let stoppedAt = 0;
  let resumedAt = 0;
  let moved = false;
  try {
    await gen.run(150, 18, async (elapsed) => {
      if (stoppedAt === 0 && elapsed >= 3000) {
        victimProcess.child.kill('SIGSTOP');
        stoppedAt = elapsed;
      }
      if (stoppedAt > 0 && !moved) {
        const s = await ctx.cluster.client.jobStatus(job.id);
        moved = s.subtasks.every((t) => t.taskManagerId !== victim);
      }
      // Paused 8 s (past the 3.5 s timeout), and resumed only once its subtask runs elsewhere.
      if (resumedAt === 0 && moved && elapsed >= stoppedAt + 8000) {
        victimProcess.child.kill('SIGCONT');
        resumedAt = elapsed;
      }
    });
  } finally {
    if (resumedAt === 0) victimProcess.child.kill('SIGCONT');
  }
  try {
    assert.ok(moved, 'the paused TaskManager lost its subtasks');
    assert.ok(resumedAt > 0, 'resumed under load');
    await waitFor(() => gen.missing().length === 0, { maxWaitMs: 60_000, what: `every request answered (${gen.missing().length} missing)` });
    const after = await ctx.cluster.client.jobStatus(job.id);
    console.log(
      `pause drill: ${gen.sent.size} sent, ${gen.replies.size} answered, ${gen.missing().length} lost, ${gen.duplicated().length} duplicated; ` +
        `paused ${((resumedAt - stoppedAt) / 1000).toFixed(1)} s; epochs ${job.subtasks.map((s) => s.epoch).join(',')} → ${after.subtasks.map((s) => s.epoch).join(',')}` +
        (process.env.CS_TEST_LOG_LEVEL ? `; fenced writes logged by the resumed TaskManager: ${victimProcess.output().split('taskmanager.subtask.fenced').length - 1}` : ''),
    );
    assert.deepEqual(gen.duplicated(), [], 'no request got two replies');
    assert.deepEqual(checkTinyResults(gen), []);
    assert.ok((after.subtasks[0]!.epoch ?? 0) > (job.subtasks[0]!.epoch ?? 0), 'the moved subtask has a newer epoch');
  } finally {
    await gen.close();
    await ctx.cluster.client.cancelJob(job.id);
  }
});

test('a TaskManager whose event loop is blocked for 2 s keeps its subtask (no false failover at the default timeout)', async () => {
  // This TaskManager runs in the test's own process, so blocking this event loop blocks the TaskManager's
  // (the JobManager is a process of its own); 4 slots, so the job goes to it.
  const tm = new TaskManager({ jobmanagerUrl: ctx.cluster.url, redisUrl: ctx.redis, slots: 4, taskManagerId: 'tm-inproc', cacheDir: join(ctx.dir, 'tm-inproc'), logger: createLogger('taskmanager', process.env.CS_TEST_LOG_LEVEL ?? 'silent') });
  await tm.start();
  const name = uniqueName('busy');
  const gen = new LoadGenerator(ctx.redis, name, 1, tinyInput);
  try {
    const job = await runningJob(name, 1, 1);
    assert.equal(job.subtasks[0]!.taskManagerId, 'tm-inproc');
    let resumedWall = 0;
    await gen.run(50, 5, (elapsed) => {
      if (resumedWall === 0 && elapsed >= 1500) {
        // The stimulus: 2 s of synchronous work on the TaskManager's event loop.
        const end = Date.now() + 2000;
        while (Date.now() < end) {
          // busy
        }
        resumedWall = Date.now();
      }
    });
    // A heartbeat from after the block reached the JobManager: whatever it decided is decided.
    await waitFor(async () => ((await ctx.cluster.client.listTaskManagers()).taskmanagers.find((t) => t.id === 'tm-inproc')?.lastHeartbeat ?? 0) > resumedWall, { maxWaitMs: 20_000, what: 'a heartbeat after the block' });
    await waitFor(() => gen.missing().length === 0, { maxWaitMs: 30_000, what: `every request answered (${gen.missing().length} missing)` });
    const after = await ctx.cluster.client.jobStatus(job.id);
    assert.deepEqual(after.subtasks.map((s) => [s.taskManagerId, s.epoch]), job.subtasks.map((s) => [s.taskManagerId, s.epoch]), 'the subtask never moved (same TaskManager, same epoch)');
    assert.deepEqual(gen.duplicated(), []);
    await ctx.cluster.client.cancelJob(job.id);
  } finally {
    await gen.close();
    await tm.close({ force: true });
  }
});
