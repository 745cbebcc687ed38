import { defaultModelsDir } from '../../src/models/generate';
import { strict as assert } from 'node:assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { JobManagerClient } from '../../src/cluster-api/jobmanager-client';
import type { TopologySource } from '../../src/cluster-api/dto';
import { ClusterServingError } from '../../src/errors';
import { createLogger } from '../../src/logging/logger';
import type { JobManager } from '../../jobmanager/main';
import { startTestJobManager } from '../support/jobmanager';
import { TaskManager } from '../../taskmanager/main';
import type { SubtaskHandle } from '../../taskmanager/slot-table';
import type { SubtaskRunnerOptions } from '../../taskmanager/subtask-runner';
import { stopTestRedis, testRedisUrl } from '../support/redis';
import { uniqueName, waitFor } from '../support/wait-for';

const LOG_LEVEL = process.env.CS_TEST_LOG_LEVEL ?? 'silent';

/** What the TaskManager asked a subtask runner to do (a real TaskManager, a recording runner). */
interface Run {
  readonly options: SubtaskRunnerOptions;
  started: boolean;
  closed: boolean;
}

/** Runners record their lifecycle; a job named `fail-*` fails to start, like a missing model would. */
function recordingRunners(): { runs: Run[]; createRunner: (o: SubtaskRunnerOptions) => SubtaskHandle } {
  const runs: Run[] = [];
  return {
    runs,
    createRunner: (options) => {
      const run: Run = { options, started: false, closed: false };
      runs.push(run);
      return {
        start: async () => {
          if (options.topology.spec.name.startsWith('fail-')) throw new ClusterServingError('CS_ERR_MODEL_LOAD', 'model file not found: /nowhere/model.onnx');
          run.started = true;
        },
        close: async () => {
          run.closed = true;
        },
      };
    },
  };
}

function yamlTopology(name: string, options: { parallelism?: number; partitions?: number } = {}): TopologySource {
  const source = [`name: ${name}`, 'source:', '  type: redis', `  partitions: ${options.partitions ?? 1}`, 'model:', '  path: model.onnx', `parallelism: ${options.parallelism ?? 1}`, ''].join('\n');
  // The JobManager checks the model at submit: the generated tiny model, in the submitted folder.
  return { filename: `${name}.yaml`, source: source.replace('path: model.onnx', 'path: tiny.onnx'), baseDir: defaultModelsDir() };
}

describe('TaskManager against a real JobManager (real Redis)', () => {
  let redisUrl: string;
  let cacheDir: string;
  let jm: JobManager;
  let port: number;

  const newJobManager = (p: number): Promise<JobManager> =>
    startTestJobManager({ redisUrl, port: p, cacheDir, heartbeatTimeoutMs: 1000 });

  before(async () => {
    redisUrl = await testRedisUrl();
    cacheDir = await mkdtemp(join(tmpdir(), 'cs-tm-test-'));
    jm = await newJobManager(0);
    port = Number(new URL(jm.url).port);
  });

  after(async () => {
    await jm?.close();
    await rm(cacheDir, { recursive: true, force: true });
    await stopTestRedis();
  });

  function newTaskManager(createRunner: (o: SubtaskRunnerOptions) => SubtaskHandle, slots = 2): TaskManager {
    return new TaskManager({
      jobmanagerUrl: jm.url,
      redisUrl,
      slots,
      taskManagerId: uniqueName('tm'),
      cacheDir,
      modelDirs: [defaultModelsDir()],
      logger: createLogger('taskmanager', LOG_LEVEL),
      registrationBackoff: { initialMs: 20, maxMs: 200 },
      createRunner,
    });
  }

  it('runs its assigned subtasks, keeps them through a JobManager restart, stops them on cancel and deregisters on close', async () => {
    const { runs, createRunner } = recordingRunners();
    const tm = newTaskManager(createRunner);
    await tm.start();
    const client = new JobManagerClient(jm.url);
    const name = uniqueName('served');
    const { jobId } = await client.submitJob(yamlTopology(name, { parallelism: 2, partitions: 2 }));
    try {
      await waitFor(() => runs.filter((r) => r.started).length === 2, { maxWaitMs: 30_000, what: 'two subtasks started' });
      const byIndex = [...runs].sort((a, b) => a.options.subtaskIndex - b.options.subtaskIndex);
      assert.deepEqual(
        byIndex.map((r) => ({ index: r.options.subtaskIndex, splits: r.options.splits, consumer: r.options.consumerName, redis: r.options.redisUrl })),
        [
          { index: 0, splits: [`${name}:0`], consumer: `${tm.id}-${jobId}-0`, redis: redisUrl },
          { index: 1, splits: [`${name}:1`], consumer: `${tm.id}-${jobId}-1`, redis: redisUrl },
        ],
      );
      assert.equal(byIndex[0]!.options.topology.spec.model.path, join(defaultModelsDir(), 'tiny.onnx'), 'relative model path resolved against the submitted folder');

      // SPEC §6: a JobManager restart interrupts no running job.
      await jm.close();
      await tm.heartbeatNow(); // fails: nobody listens; subtasks keep running
      assert.equal(runs.filter((r) => r.closed).length, 0);
      jm = await newJobManager(port);
      await tm.heartbeatNow();
      await tm.heartbeatNow();
      assert.equal(runs.length, 2, 'nothing restarted');
      assert.equal(runs.filter((r) => r.closed).length, 0, 'nothing stopped');
      assert.equal((await client.jobStatus(jobId)).state, 'RUNNING');

      await client.cancelJob(jobId);
      await waitFor(() => runs.every((r) => r.closed), { maxWaitMs: 30_000, what: 'subtasks closed after cancel' });
    } finally {
      await client.cancelJob(jobId).catch(() => undefined);
      await tm.close();
    }
    const { taskmanagers } = await client.listTaskManagers();
    assert.equal(
      taskmanagers.some((t) => t.id === tm.id),
      false,
      'deregistered on close',
    );
  });

  it('reports a subtask that fails to start, and the JobManager fails the job', async () => {
    const { runs, createRunner } = recordingRunners();
    const tm = newTaskManager(createRunner, 1);
    await tm.start();
    const client = new JobManagerClient(jm.url);
    const { jobId } = await client.submitJob(yamlTopology(uniqueName('fail')));
    try {
      const job = await waitFor(
        async () => {
          const s = await client.jobStatus(jobId);
          return s.state === 'FAILED' ? s : undefined;
        },
        { maxWaitMs: 30_000, what: 'job FAILED' },
      );
      assert.match(job.failure ?? '', /model file not found/);
      await waitFor(() => tm.runningSubtasks === 0, { maxWaitMs: 30_000, what: 'failed slot released' });
      assert.equal(runs.length, 1);
    } finally {
      await tm.close();
    }
  });

  it('registers as soon as a JobManager that was down comes up, and close() during registration returns promptly', async () => {
    const { createRunner } = recordingRunners();
    await jm.close();
    const waiting = newTaskManager(createRunner);
    const starting = waiting.start();
    const abandoned = newTaskManager(createRunner);
    const abandonedStart = abandoned.start();
    await abandoned.close();
    await assert.rejects(abandonedStart, (err: unknown) => err instanceof ClusterServingError && err.code === 'CS_ERR_CLOSED');
    jm = await newJobManager(port);
    await starting;
    const { taskmanagers } = await new JobManagerClient(jm.url).listTaskManagers();
    assert.ok(taskmanagers.some((t) => t.id === waiting.id));
    await waiting.close();
  });
});
