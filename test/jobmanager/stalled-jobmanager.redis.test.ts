import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { JobManagerClient } from '../../src/cluster-api/jobmanager-client';
import type { JobManager } from '../../jobmanager/main';
import { startTestJobManager } from '../support/jobmanager';
import { stopTestRedis, testRedisUrl } from '../support/redis';
import { testModels } from '../support/test-models';
import { uniqueName, waitFor } from '../support/wait-for';
import { spawnCs } from '../cli/run-cs';

let redisUrl: string;
let cacheDir: string;
let jm: JobManager;
let tm: ChildProcess | undefined;
before(async () => {
  redisUrl = await testRedisUrl();
  cacheDir = await mkdtemp(join(tmpdir(), 'cs-stall-'));
  jm = await startTestJobManager({ redisUrl, cacheDir: join(cacheDir, 'jm'), heartbeatIntervalMs: 100, heartbeatTimeoutMs: 1000 });
});
after(async () => {
  if (tm && tm.exitCode === null) {
    const exited = new Promise((r) => tm!.once('exit', r));
    tm.kill('SIGKILL');
    await exited;
  }
  await jm?.close();
  await rm(cacheDir, { recursive: true, force: true });
  await stopTestRedis();
});

test('a JobManager whose own event loop stalls 2 s (past the 1 s heartbeat timeout) declares no TaskManager lost', async () => {
  const models = await testModels();
  const client = new JobManagerClient(jm.url);
  tm = spawnCs(['taskmanager', 'start', '--jobmanager', jm.url, '--redis', redisUrl, '--id', 'tm-stall', '--cache-dir', join(cacheDir, 'tm')]);
  const name = uniqueName('stall');
  const { jobId } = await client.submitJob({ filename: `${name}.yaml`, source: `name: ${name}\nsource: { type: redis }\nmodel: { path: ${models.tiny} }\n`, baseDir: dirname(models.tiny) });
  const before = await waitFor(async () => {
    const s = await client.jobStatus(jobId);
    return s.state === 'RUNNING' && s.subtasks[0]?.taskManagerId === 'tm-stall' ? s : undefined;
  }, { maxWaitMs: 30_000, what: 'the job running on tm-stall' });
  // The stimulus: this process (the JobManager's) runs nothing for 2 s, as during a long synchronous task.
  const end = Date.now() + 2000;
  while (Date.now() < end) {
    // busy
  }
  const resumed = Date.now();
  await waitFor(async () => ((await client.listTaskManagers()).taskmanagers.find((t) => t.id === 'tm-stall')?.lastHeartbeat ?? 0) > resumed, { maxWaitMs: 20_000, what: 'a heartbeat after the stall' });
  const after = await client.jobStatus(jobId);
  assert.deepEqual(after.subtasks.map((s) => [s.taskManagerId, s.epoch]), before.subtasks.map((s) => [s.taskManagerId, s.epoch]), 'the subtask never moved');
});
