import { strict as assert } from 'node:assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { defaultModelsDir } from '../../src/models/generate';
import type { RunningSubtask } from '../../src/cluster-api/dto';
import { JobManagerClient } from '../../src/cluster-api/jobmanager-client';
import type { JobManager } from '../../jobmanager/main';
import { startTestJobManager } from '../support/jobmanager';
import { stopTestRedis, testRedisUrl } from '../support/redis';
import { uniqueName, waitFor } from '../support/wait-for';
import { hasStackTrace, lines, runCs } from './run-cs';

describe('cs job rescale and cs taskmanager list against a real JobManager (real Redis)', () => {
  let dir: string;
  let jm: JobManager;
  let env: Record<string, string>;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cs-cli-rescale-'));
    // The TaskManager here registers but never heartbeats.
    jm = await startTestJobManager({ redisUrl: await testRedisUrl(), cacheDir: join(dir, 'cache'), heartbeatIntervalMs: 200, heartbeatTimeoutMs: 30_000 });
    env = { CS_JOBMANAGER_URL: jm.url };
  });

  after(async () => {
    await jm?.close();
    await rm(dir, { recursive: true, force: true });
    await stopTestRedis();
  });

  function assertOneLineError(result: { code: number | null; stderr: string }, pattern: RegExp): void {
    assert.notEqual(result.code, 0);
    assert.equal(hasStackTrace(result.stderr), false, result.stderr);
    assert.equal(lines(result.stderr).length, 1, result.stderr);
    assert.match(result.stderr, pattern);
  }

  it('rescale prints the new status line; the TaskManager list shows each subtask with its job name and splits', async () => {
    const client = new JobManagerClient(jm.url);
    const tmId = uniqueName('tm-cli');
    await client.registerTaskManager({ id: tmId, host: 'cli-host', slots: 3 });
    const name = uniqueName('cli-rescale');
    const source = `name: ${name}\nsource:\n  type: redis\n  partitions: 3\nmodel:\n  path: ${join(defaultModelsDir(), 'tiny.onnx')}\nparallelism: 1\n`;
    const { jobId } = await client.submitJob({ filename: `${name}.yaml`, source, baseDir: dir });
    try {
      // The registered TaskManager reports what it was assigned as ready: the job is RUNNING only then.
      let running: RunningSubtask[] = [];
      await waitFor(async () => {
        const beat = await client.heartbeat(tmId, { running });
        running = beat.assignments.map((a) => ({ jobId: a.jobId, subtaskIndex: a.subtaskIndex, ...(a.epoch !== undefined ? { epoch: a.epoch } : {}), ready: true }));
        return (await client.jobStatus(jobId)).state === 'RUNNING';
      }, { what: 'job RUNNING' });
      const result = await runCs(['job', 'rescale', jobId, '--parallelism', '2'], { env });
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(lines(result.stdout), [`job ${jobId} RUNNING parallelism 2`]);

      const list = await runCs(['taskmanager', 'list'], { env });
      assert.equal(list.code, 0, list.stderr);
      const out = lines(list.stdout);
      assert.match(out[0]!, /^ID\s+HOST\s+SLOTS\s+FREE\s+LAST HEARTBEAT\s+METRICS\s+SUBTASKS$/);
      const row = out.findIndex((l) => l.startsWith(`${tmId} `));
      assert.ok(row > 0, list.stdout);
      assert.match(out[row]!, new RegExp(`^${tmId}\\s+cli-host\\s+3\\s+1\\s+[0-9.]+ s ago\\s+-\\s+${name}/0 \\[${name}:0,${name}:2\\]$`));
      assert.match(out[row + 1]!, new RegExp(`^\\s+${name}/1 \\[${name}:1\\]$`));
    } finally {
      await client.cancelJob(jobId);
      await client.deregisterTaskManager(tmId);
    }
  });

  it('errors are one line: a bad --parallelism, an unknown job, a canceled job', async () => {
    assertOneLineError(await runCs(['job', 'rescale', 'abc', '--parallelism', '0'], { env }), /--parallelism.*must be an integer from 1 to 1024/);
    assertOneLineError(await runCs(['job', 'rescale', 'abc'], { env }), /required option '--parallelism <n>' not specified/);
    assertOneLineError(await runCs(['job', 'rescale', 'f'.repeat(32), '--parallelism', '2'], { env }), new RegExp(`job ${'f'.repeat(32)} not found \\(CS_ERR_NOT_FOUND\\)`));
    const name = uniqueName('cli-canceled');
    const client = new JobManagerClient(jm.url);
    const { jobId } = await client.submitJob({ filename: `${name}.yaml`, source: `name: ${name}\nsource:\n  type: redis\nmodel:\n  path: ${join(defaultModelsDir(), 'tiny.onnx')}\n`, baseDir: dir });
    await client.cancelJob(jobId);
    assertOneLineError(await runCs(['job', 'rescale', jobId, '--parallelism', '2'], { env }), /is CANCELED: only a CREATED or RUNNING job can be rescaled \(CS_ERR_BAD_REQUEST\)/);
  });
});
